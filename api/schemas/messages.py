"""Message request and response models: one email sent through the durable pipeline."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints

from nurture.schemas.email import AttachmentInfo, EngagementType, MessageStatus, TemplateKind
from nurture.schemas.fields import FromAddress, Id, Input, Output

# Keys become workflow ids (`message:{key}`), which operators read and must never hold personal
# data: no @, so no email address; printable, no spaces.
MessageKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/-]{1,200}$")]


class MessageCreate(Input):
    """Send a template to a contact; the same `key` twice sends once."""

    template_id: Id
    contact_id: Id
    key: MessageKey | None = Field(
        default=None, description="Idempotency key; a new one is made when absent. No personal data."
    )
    model: dict[str, Any] = Field(default_factory=dict, description="Variables for the template: `model.x`")
    list_id: Id | None = Field(default=None, description="Marketing only: the list it is sent for")
    from_email: FromAddress | None = Field(default=None, description="`Name <address>`; the default sender")
    tag: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class MessageEventPublic(Output):
    """One thing that happened to a sent message."""

    type: EngagementType
    occurred_at: datetime
    machine: bool
    machine_reason: str | None
    url: str | None
    source: str


class MessagePublic(Output):
    """A message in the ledger, with what happened to it."""

    id: int
    key: str
    kind: TemplateKind
    status: MessageStatus
    reason: str | None
    contact_id: int | None
    template_id: int | None
    list_id: int | None
    to_email: str
    from_email: str
    subject: str
    stream: str | None
    provider: str
    provider_message_id: str | None
    attempts: int
    workflow_id: str | None
    created_at: datetime
    sent_at: datetime | None
    # A message sent without files stores none.
    attachments: Annotated[list[AttachmentInfo], BeforeValidator(lambda files: files or [])] = []
    events: list[MessageEventPublic] = []


class MessageAccepted(Output):
    """A send was started (202) or its key was seen before (200): where to follow it."""

    key: str
    workflow_id: str
    ui_url: str
    status: MessageStatus | None = Field(description="Null until the worker has handled it")
    message: MessagePublic | None = None
