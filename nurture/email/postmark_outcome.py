"""What handling one Postmark webhook did, and the common step of recording it on its message."""

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from nurture.crud.engagement import record_engagement
from nurture.crud.suppressions import get_suppression
from nurture.db.models import EngagementType, Message, MessageEvent, Suppression, SuppressionReason
from nurture.email.postmark_payloads import AnyPostmarkEvent

# The `source` of every event, suppression and activity a Postmark webhook writes.
SOURCE = "postmark"


class Outcome(enum.StrEnum):
    """What handling a webhook did."""

    RECORDED = "recorded"  # an event was recorded on the message (and any suppression applied)
    REPEAT = "repeat"  # the very same event was recorded before: nothing done
    SUPPRESSED = "suppressed"  # no event recorded, but the address was suppressed
    UNSUPPRESSED = "unsuppressed"  # Postmark reactivated the address and our suppression was lifted
    IGNORED = "ignored"  # acknowledged, nothing written


@dataclass
class HandledEvent:
    """The result of one webhook: what was done, and why, in words an operator can read."""

    record_type: str
    outcome: Outcome
    detail: str
    type: EngagementType | None = None
    message: Message | None = None
    event: MessageEvent | None = None
    suppression: Suppression | None = None

    @property
    def recorded(self) -> bool:
        """Whether a new event row was written."""
        return self.event is not None

    @property
    def repeat(self) -> bool:
        """Whether this was a retry of an event already recorded."""
        return self.outcome == Outcome.REPEAT


def ignored(event: AnyPostmarkEvent, detail: str) -> HandledEvent:
    """Acknowledge an event that writes nothing, saying why."""
    return HandledEvent(event.record_type, Outcome.IGNORED, detail)


def unmatched(event: AnyPostmarkEvent) -> HandledEvent:
    """Acknowledge an event about a message Nurture did not send (or no longer knows)."""
    return ignored(event, "no message of Nurture's matches this event")


def record(
    session: Session,
    event: AnyPostmarkEvent,
    *,
    message: Message | None,
    key: str,
    type: EngagementType,
    occurred_at: datetime,
    url: str | None = None,
    machine: str | None = None,
    data: dict[str, Any] | None = None,
    suppression: SuppressionReason | None = None,
) -> HandledEvent:
    """Record an engagement on the message once per `key`, applying `suppression` to its address.

    Returns:
        RECORDED with the new row; REPEAT when `key` was recorded before; IGNORED without a message.
    """
    if message is None:
        return unmatched(event)
    row = record_engagement(
        session,
        message=message,
        type=type,
        source=SOURCE,
        occurred_at=occurred_at,
        url=url,
        machine_reason=machine,
        data={k: v for k, v in (data or {}).items() if v is not None},
        dedup_key=key,
        suppression=suppression,
    )
    if row is None:
        return HandledEvent(event.record_type, Outcome.REPEAT, f"already recorded as {key}", type, message)
    detail = f"recorded {type.value} on message {message.id}"
    if suppression is not None:
        detail += f"; {message.to_email} suppressed ({suppression.value})"
    return HandledEvent(
        event.record_type,
        Outcome.RECORDED,
        detail,
        type,
        message,
        row,
        get_suppression(session, email=message.to_email) if suppression is not None else None,
    )
