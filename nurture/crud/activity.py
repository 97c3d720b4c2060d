"""Append events to a contact's activity stream and read them back."""

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from nurture.db.base import utcnow
from nurture.db.models import ActivityEvent


def record_activity(
    session: Session,
    *,
    contact_id: int,
    type: str,
    data: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> ActivityEvent:
    """Append one event in the caller's transaction, so it lands with the change it describes."""
    event = ActivityEvent(
        contact_id=contact_id, type=type, data=data or {}, occurred_at=occurred_at or utcnow()
    )
    session.add(event)
    return event
