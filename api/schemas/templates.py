"""Template, partial and preview request and response models."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from nurture.schemas.email import TemplateKind
from nurture.schemas.fields import Id, Input, Output, not_null

# Bodies stay well inside the API's 1 MiB request limit; RFC 5322 caps a header line at 998.
MAX_BODY = 512 * 1024
MAX_SUBJECT = 998

TemplateName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SUBJECT)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY)]
OptionalBody = Annotated[str, StringConstraints(max_length=MAX_BODY)]
# Partial names appear in `{% include "name" %}`; "@" stays free for the template's own fields.
PartialName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
]


class TemplateCreate(Input):
    """A new template; the text body is derived from the HTML when absent."""

    name: TemplateName
    kind: TemplateKind
    subject: Subject
    html_body: Body
    text_body: OptionalBody | None = None
    layout_id: Id | None = None


class TemplateUpdate(Input):
    """Changes to a template; null clears text_body or layout_id."""

    name: TemplateName | None = None
    kind: TemplateKind | None = None
    subject: Subject | None = None
    html_body: Body | None = None
    text_body: OptionalBody | None = None
    layout_id: Id | None = None

    _not_null = not_null("name", "kind", "subject", "html_body")


class TemplatePublic(Output):
    """A template as the API returns it."""

    id: int
    name: str
    kind: TemplateKind
    subject: str
    html_body: str
    text_body: str | None
    layout_id: int | None
    created_at: datetime
    updated_at: datetime


class PartialCreate(Input):
    """A new partial: a layout (holding `{% block content %}`) or a snippet to include."""

    name: PartialName
    body: Body


class PartialUpdate(Input):
    """Changes to a partial."""

    name: PartialName | None = None
    body: Body | None = None

    _not_null = not_null("name", "body")


class PartialPublic(Output):
    """A partial as the API returns it."""

    id: int
    name: str
    body: str
    created_at: datetime
    updated_at: datetime


class PreviewRequest(Input):
    """Whom to preview for (an example contact when null) and the per-send model."""

    contact_id: Id | None = None
    model: dict[str, Any] = Field(default_factory=dict)


class PreviewPublic(Output):
    """A rendered preview, with the variables that were undefined (rendered as empty)."""

    subject: str
    html: str
    text: str
    undefined: list[str]
