"""1:1 email request and response models: a user's email to one contact, and the Emails lists."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from nurture.schemas.email import EngagementType, MessageStatus
from nurture.schemas.fields import Email, Id, Input, Output

Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=998)]
Via = Literal["platform", "mailbox"]


class OneToOneCreate(Input):
    """A personal email from a user to one contact, written out in full (`html` and/or `text`)."""

    user_id: Id | None = Field(default=None, description="Who it is from; the record's owner when absent")
    contact_id: Id | None = Field(default=None, description="The recipient (deal and account emails only)")
    deal_id: Id | None = Field(default=None, description="A deal it concerns (contact emails only)")
    subject: Subject
    html: str | None = None
    text: str | None = None
    cc: list[Email] = Field(default_factory=list, max_length=50, description="Connected mailbox only")
    bcc: list[Email] = Field(default_factory=list, max_length=50, description="Connected mailbox only")
    via: Via | None = Field(
        default=None, description="platform (Postmark) or mailbox; the user's own mode when absent"
    )


class EmailEventPublic(Output):
    """One thing that happened to a 1:1 email: delivered, opened, clicked, bounced, replied."""

    type: EngagementType
    occurred_at: datetime
    machine: bool
    url: str | None
    # A reply: who wrote it, its subject and its text.
    data: dict[str, Any]


class EmailPublic(Output):
    """A 1:1 email on an Emails list, with its engagement and replies."""

    id: int
    key: str
    status: MessageStatus
    reason: str | None
    user_id: int | None
    contact_id: int | None
    deal_id: int | None
    account_id: int | None
    from_email: str
    to_email: str
    cc: list[str] | None
    subject: str
    text_body: str | None
    provider: str
    created_at: datetime
    sent_at: datetime | None
    events: list[EmailEventPublic] = []
