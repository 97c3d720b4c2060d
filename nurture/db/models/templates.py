"""Email templates and the named partials (layouts, footers) they share."""

from sqlalchemy import Enum, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db.base import Base, BigId, Timestamps
from nurture.schemas.email import TemplateKind


class Partial(Timestamps, Base):
    """A named Jinja snippet: `{% include "footer" %}`, or a layout a template is wrapped in."""

    __tablename__ = "template_partials"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)


Index("uq_template_partials_name_lower", func.lower(Partial.name), unique=True)


class Template(Timestamps, Base):
    """An email written in Jinja: subject, HTML body and optional text body (derived when absent)."""

    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[TemplateKind] = mapped_column(
        Enum(TemplateKind, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    subject: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str | None] = mapped_column(Text)
    # A partial holding `{% block content %}`: the template's HTML body fills it.
    layout_id: Mapped[int | None] = mapped_column(
        ForeignKey("template_partials.id", ondelete="RESTRICT"), index=True
    )


Index("uq_templates_name_lower", func.lower(Template.name), unique=True)
