"""Email templates and the partials they share; a partial in use cannot be deleted."""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from nurture.crud.changes import apply_changes
from nurture.crud.search import matches
from nurture.db.models import Partial, Template
from nurture.schemas.email import TemplateKind
from nurture.templates.references import referenced_names

TEMPLATE_FIELDS = ("name", "kind", "subject", "html_body", "text_body", "layout_id")
PARTIAL_FIELDS = ("name", "body")


def get_template(session: Session, *, template_id: int) -> Template | None:
    """The template with this id."""
    return session.get(Template, template_id)


def get_template_by_name(session: Session, *, name: str) -> Template | None:
    """The template with this name, ignoring case."""
    return session.scalar(select(Template).where(func.lower(Template.name) == name.strip().lower()))


def filter_templates(*, search: str | None = None, kind: TemplateKind | None = None) -> Select[Template]:
    """A query for templates of this kind whose name or subject contains `search`, ignoring case."""
    query = select(Template)
    if search:
        query = query.where(matches(search, Template.name, Template.subject))
    if kind is not None:
        query = query.where(Template.kind == kind)
    return query


def create_template(
    session: Session,
    *,
    name: str,
    kind: TemplateKind,
    subject: str,
    html_body: str,
    text_body: str | None = None,
    layout_id: int | None = None,
) -> Template:
    """Insert a template; callers check the name is free and the source is valid first."""
    template = Template(
        name=name.strip(),
        kind=kind,
        subject=subject,
        html_body=html_body,
        text_body=text_body,
        layout_id=layout_id,
    )
    session.add(template)
    session.flush()
    return template


def update_template(session: Session, *, template: Template, changes: dict[str, Any]) -> list[str]:
    """Apply validated changes; returns the fields that changed."""
    changed = apply_changes(template, TEMPLATE_FIELDS, changes)
    session.flush()
    return changed


def delete_template(session: Session, *, template: Template) -> None:
    """Delete a template; messages already sent from it keep their rendered copy."""
    session.delete(template)
    session.flush()


def get_partial(session: Session, *, partial_id: int) -> Partial | None:
    """The partial with this id."""
    return session.get(Partial, partial_id)


def get_partial_by_name(session: Session, *, name: str) -> Partial | None:
    """The partial with this name, ignoring case (as `{% include "Footer" %}` resolves it)."""
    return session.scalar(select(Partial).where(func.lower(Partial.name) == name.strip().lower()))


def filter_partials(*, search: str | None = None) -> Select[Partial]:
    """A query for partials whose name contains `search`, ignoring case."""
    query = select(Partial)
    if search:
        query = query.where(matches(search, Partial.name))
    return query


def create_partial(session: Session, *, name: str, body: str) -> Partial:
    """Insert a partial; callers check the name is free and the body is valid first."""
    partial = Partial(name=name.strip(), body=body)
    session.add(partial)
    session.flush()
    return partial


def update_partial(session: Session, *, partial: Partial, changes: dict[str, Any]) -> list[str]:
    """Apply validated changes; returns the fields that changed."""
    changed = apply_changes(partial, PARTIAL_FIELDS, changes)
    session.flush()
    return changed


@dataclass
class PartialUsers:
    """The templates and partials that use a partial directly (as layout, include, extends or import)."""

    templates: list[Template] = field(default_factory=list)
    partials: list[Partial] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.templates or self.partials)

    def describe(self) -> str:
        """`templates 'Welcome', 'Receipt' and partials 'layout'`, for error messages."""
        parts = []
        if self.templates:
            parts.append("templates " + ", ".join(f"'{t.name}'" for t in self.templates))
        if self.partials:
            parts.append("partials " + ", ".join(f"'{p.name}'" for p in self.partials))
        return " and ".join(parts)


def partial_users(session: Session, *, partial: Partial) -> PartialUsers:
    """Who uses this partial directly, by id (layout) or by name (in their Jinja source)."""
    name = partial.name.lower()
    # The substring match narrows the candidates cheaply; parsing confirms a real reference.
    templates = session.scalars(
        select(Template)
        .where(
            or_(
                Template.layout_id == partial.id,
                matches(name, Template.subject, Template.html_body, Template.text_body),
            )
        )
        .order_by(Template.id)
    )
    users = PartialUsers()
    for template in templates:
        sources = (template.subject, template.html_body, template.text_body)
        if template.layout_id == partial.id or any(name in referenced_names(s) for s in sources):
            users.templates.append(template)
    others = session.scalars(
        select(Partial).where(Partial.id != partial.id, matches(name, Partial.body)).order_by(Partial.id)
    )
    users.partials = [other for other in others if name in referenced_names(other.body)]
    return users


class PartialInUseError(Exception):
    """A partial that templates or other partials still use."""

    def __init__(self, partial: Partial, users: PartialUsers) -> None:
        super().__init__(f"partial '{partial.name}' is used by {users.describe()}")
        self.users = users


def delete_partial(session: Session, *, partial: Partial) -> None:
    """Delete a partial nothing uses.

    Raises:
        PartialInUseError: a template uses it as layout or includes it, or another partial does.
    """
    users = partial_users(session, partial=partial)
    if users:
        raise PartialInUseError(partial, users)
    session.delete(partial)
    session.flush()
