"""Email vocabulary shared by the database, the API, activities and workflows (no I/O imports)."""

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


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


class SendRequest(BaseModel):
    """One email to send through the pipeline; `key` makes it happen at most once."""

    key: str = Field(min_length=1, max_length=255)
    template_id: int
    contact_id: int
    kind: TemplateKind | None = None  # the template's kind when not given
    list_id: int | None = None
    model: dict[str, Any] = Field(default_factory=dict)
    from_email: str | None = None  # settings.email_from when not given
    tag: str | None = None
    # Sent instead of the template's subject, and rendered like it (Jinja, same variables): the
    # subject lines of a campaign's A/B test. 998 is RFC 5322's line limit, as for templates.
    subject: str | None = Field(default=None, min_length=1, max_length=998)
    workflow_id: str | None = None
    # A notification about the contact to an account user (by id, or the contact's owner)
    # instead of an email to the contact: transactional, and no marketing rules apply.
    to_user_id: int | None = None
    notify_owner: bool = False


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
