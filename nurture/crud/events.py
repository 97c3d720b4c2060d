"""Custom events about contacts: record once per idempotency key, look up, filter."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nurture.crud.activity import record_activity
from nurture.db.base import utcnow
from nurture.db.models import ContactEvent

# The activity stream's type column holds 64 characters: `event.` plus the name.
ACTIVITY_PREFIX = "event."
MAX_NAME_LENGTH = 64 - len(ACTIVITY_PREFIX)


def get_event(session: Session, *, event_id: int) -> ContactEvent | None:
    """The event with this id."""
    return session.get(ContactEvent, event_id)


def get_event_by_key(session: Session, *, idempotency_key: str) -> ContactEvent | None:
    """The event recorded with this idempotency key."""
    return session.scalar(select(ContactEvent).where(ContactEvent.idempotency_key == idempotency_key))


def record_event(
    session: Session,
    *,
    contact_id: int,
    name: str,
    properties: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> ContactEvent:
    """Insert an event and its `event.<name>` activity in the caller's transaction; flushes.

    Callers look the idempotency key up first; two requests racing with one key make the
    database refuse the second (IntegrityError), whose caller then finds the first.
    """
    # Stored and answered in UTC, whatever offset the caller wrote.
    at = (occurred_at or utcnow()).astimezone(UTC)
    event = ContactEvent(
        contact_id=contact_id,
        name=name,
        properties=properties or {},
        occurred_at=at,
        idempotency_key=idempotency_key,
    )
    session.add(event)
    session.flush()
    record_activity(
        session,
        contact_id=contact_id,
        type=f"{ACTIVITY_PREFIX}{name}",
        data={"event_id": event.id, "properties": event.properties},
        occurred_at=at,
    )
    session.flush()
    return event


def filter_events(*, contact_id: int | None = None, name: str | None = None) -> Select[ContactEvent]:
    """A query for events of a contact and/or with a name."""
    query = select(ContactEvent)
    if contact_id is not None:
        query = query.where(ContactEvent.contact_id == contact_id)
    if name is not None:
        query = query.where(ContactEvent.name == name)
    return query
