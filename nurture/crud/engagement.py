"""Record what happened to a sent message: once per event, on the message and the contact's stream."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.crud.activity import record_activity
from nurture.crud.suppressions import suppress_address
from nurture.db.base import utcnow
from nurture.db.models import (
    EngagementType,
    Message,
    MessageEvent,
    SuppressionReason,
)


def record_engagement(
    session: Session,
    *,
    message: Message,
    type: EngagementType,
    source: str,
    occurred_at: datetime | None = None,
    url: str | None = None,
    machine_reason: str | None = None,
    data: dict[str, Any] | None = None,
    dedup_key: str | None = None,
    suppression: SuppressionReason | None = None,
) -> MessageEvent | None:
    """Record one event on a message; None if an event with this `dedup_key` was recorded before.

    The event lands on the contact's activity stream as `email.<type>`. With `suppression`
    (a hard bounce, a spam complaint) the address is suppressed and the contact's status set.
    """
    if dedup_key is not None and session.scalar(
        select(MessageEvent.id).where(MessageEvent.dedup_key == dedup_key)
    ):
        return None
    event = MessageEvent(
        message_id=message.id,
        type=type,
        occurred_at=occurred_at or utcnow(),
        machine=machine_reason is not None,
        machine_reason=machine_reason,
        url=url,
        source=source,
        data=data or {},
        dedup_key=dedup_key,
    )
    session.add(event)
    if message.contact_id is not None:
        activity: dict[str, Any] = {"message_id": message.id, "message_key": message.key}
        if url is not None:
            activity["url"] = url
        if machine_reason is not None:
            activity["machine"] = machine_reason
        record_activity(
            session,
            contact_id=message.contact_id,
            type=f"email.{type.value}",
            data=activity,
            occurred_at=event.occurred_at,
        )
    if suppression is not None:
        suppress_address(
            session,
            email=message.to_email,
            reason=suppression,
            source=source,
            details=(data or {}).get("description"),
            message_id=message.id,
        )
    session.flush()
    return event
