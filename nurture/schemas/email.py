"""Email vocabulary shared by the database, the API, activities and workflows (no I/O imports)."""

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator


class TemplateKind(enum.StrEnum):
    """Marketing email obeys opt-outs and carries unsubscribe links; transactional does neither."""

    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class MessageStatus(enum.StrEnum):
    """Where a message stands; `sending` means reserved and possibly handed to the provider."""

    SENDING = "sending"
    SENT = "sent"
    SUPPRESSED = "suppressed"
    FAILED = "failed"


class EngagementType(enum.StrEnum):
    """What can happen to a message after it is sent."""

    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    REPLIED = "replied"


# The signal a workflow receives for each engagement event on a message it sent.
ENGAGEMENT_SIGNAL = "engagement"


class Engagement(BaseModel):
    """One engagement event, as delivered to the workflow waiting on the message."""

    message_id: int
    message_key: str
    type: EngagementType
    occurred_at: datetime
    url: str | None = None
    # Set when the event looks machine-made (privacy proxy, link scanner): why.
    machine: str | None = None


class Content(BaseModel):
    """An email written out in full rather than a template: sent as it is, with no Jinja."""

    # 998 is RFC 5322's line limit, as for templates.
    subject: str = Field(min_length=1, max_length=998)
    html: str | None = None
    # Derived from the HTML when absent.
    text: str | None = None


class AttachmentInfo(BaseModel):
    """A file staged for a message key (nurture.email.attachments): what history and the message
    keep of it; its content stays in the database."""

    name: str
    content_type: str
    size: int
    content_id: str | None = None


class SendRequest(BaseModel):
    """One email to send through the pipeline; `key` makes it happen at most once.

    What is sent: a template (`template_id`) or `content`. To whom: a contact (`contact_id`), or
    for transactional email any address (`to_email`).
    """

    key: str = Field(min_length=1, max_length=255)
    template_id: int | None = None
    content: Content | None = None
    contact_id: int | None = None
    to_email: str | None = Field(default=None, max_length=320)
    kind: TemplateKind | None = None  # the template's kind when not given; content is transactional
    list_id: int | None = None
    model: dict[str, Any] = Field(default_factory=dict)
    from_email: str | None = None  # settings.email_from when not given
    reply_to: str | None = Field(default=None, max_length=400)
    tag: str | None = None
    # The caller's own metadata, handed to the provider beside Nurture's key.
    metadata: dict[str, str] = Field(default_factory=dict)
    # Sent instead of the template's subject, and rendered like it (Jinja, same variables): the
    # subject lines of a campaign's A/B test. 998 is RFC 5322's line limit, as for templates.
    subject: str | None = Field(default=None, min_length=1, max_length=998)
    workflow_id: str | None = None
    # A notification about the contact to an account user (by id, or the contact's owner)
    # instead of an email to the contact: transactional, and no marketing rules apply.
    to_user_id: int | None = None
    notify_owner: bool = False
    # SHA-256 of the API request behind an Idempotency-Key, kept on the message.
    request_digest: str | None = None
    # A 1:1 email: the user it is from, what it concerns, who else gets it (connected mailboxes
    # only), and whether replies come back through Postmark's inbound address.
    user_id: int | None = None
    deal_id: int | None = None
    account_id: int | None = None
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    route_replies: bool = False
    # Sent over SMTP through the user's connected mailbox, rather than through Postmark.
    via_mailbox: bool = False
    # Files staged for this key before the send started, in order.
    attachments: list[AttachmentInfo] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_email_for_one_recipient(self) -> "SendRequest":
        if (self.template_id is None) == (self.content is None):
            raise ValueError("give either template_id or content")
        if (self.contact_id is None) == (self.to_email is None):
            raise ValueError("give either contact_id or to_email")
        return self


class GiveUp(BaseModel):
    """Stop trying to send a key, and why (shown as the message's failure reason)."""

    request: SendRequest
    why: str


class SendResult(BaseModel):
    """What became of a send: sent, suppressed (with why) or failed (with why)."""

    message_id: int | None
    key: str
    status: MessageStatus
    reason: str | None = None
    provider_message_id: str | None = None


# Postmark takes at most this many messages in one batch call.
MAX_BATCH = 500


class BatchSendRequest(BaseModel):
    """Emails to send in one provider call, each at most once per key (a campaign's page)."""

    requests: list[SendRequest] = Field(min_length=1, max_length=MAX_BATCH)


class BatchGiveUp(BaseModel):
    """Stop trying to send these keys, and why."""

    requests: list[SendRequest] = Field(min_length=1, max_length=MAX_BATCH)
    why: str


class BatchSendResult(BaseModel):
    """What became of each email of a batch, in the order of the requests."""

    results: list[SendResult]


# The Postmark Metadata key (and SMTP header) that carries a message's key, for reconciliation
# and for finding the message again when a webhook arrives.
METADATA_KEY = "nurture_message_key"
