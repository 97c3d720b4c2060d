"""/events: custom events about contacts, which trigger, advance and end automation runs."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.automation_signals import dispatch
from api.deps import SessionDep
from api.errors import conflict, invalid, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath, IdQuery
from api.schemas.events import EventAccepted, EventCreate, EventPublic
from nurture.automations.triggers import EventRecorded
from nurture.crud import events as crud
from nurture.crud.contacts import get_contact, get_contact_by_email
from nurture.db.models import ContactEvent

router = APIRouter(prefix="/events", tags=["events"])

PageDep = Annotated[PageParams, Depends(page_params)]


def _contact_id(session: Session, body: EventCreate) -> int:
    if (body.contact_id is None) == (body.email is None):
        raise invalid("contact", "name the contact by contact_id or by email (one of them)")
    if body.contact_id is not None:
        if get_contact(session, contact_id=body.contact_id) is None:
            raise invalid("contact_id", f"contact {body.contact_id} does not exist")
        return body.contact_id
    assert body.email is not None
    contact = get_contact_by_email(session, email=body.email)
    if contact is None:
        raise invalid("email", f"no contact has the email {body.email}")
    return contact.id


def _repeat(earlier: ContactEvent, *, contact_id: int, body: EventCreate) -> EventPublic:
    # A key names one event: reusing it for another contact or name is a caller's bug, not a retry.
    if earlier.contact_id != contact_id or earlier.name != body.name:
        raise conflict(
            "idempotency_key",
            f"the key was used for event {earlier.id} ('{earlier.name}' of contact {earlier.contact_id})",
        )
    return EventPublic.model_validate(earlier)


def _record(session: Session, body: EventCreate) -> tuple[EventPublic, bool]:
    """The event, recorded and committed now (True) or found by its idempotency key (False)."""
    try:
        contact_id = _contact_id(session, body)
        key = body.idempotency_key
        earlier = crud.get_event_by_key(session, idempotency_key=key) if key else None
        if earlier is not None:
            return _repeat(earlier, contact_id=contact_id, body=body), False
        try:
            event = crud.record_event(
                session,
                contact_id=contact_id,
                name=body.name,
                properties=body.properties,
                occurred_at=body.occurred_at,
                idempotency_key=key,
            )
            public = EventPublic.model_validate(event)
            session.commit()
        except IntegrityError:
            # The same key sent twice at once: the other request recorded it.
            session.rollback()
            earlier = crud.get_event_by_key(session, idempotency_key=key) if key else None
            if earlier is None:
                raise
            return _repeat(earlier, contact_id=contact_id, body=body), False
        return public, True
    finally:
        # End the read before waiting on Temporal: on SQLite an open transaction holds the lock
        # the enrollment needs to write the run's row.
        session.rollback()


@router.post(
    "",
    status_code=201,
    response_model=EventAccepted,
    responses={200: {"model": EventAccepted, "description": "The idempotency key was used before"}},
)
async def record_event(
    request: Request, session: SessionDep, body: EventCreate, response: Response
) -> EventAccepted:
    """Record an event about a contact, tell its running runs, and start the automations it triggers.

    The event is committed before anything is sent to Temporal: if Temporal cannot be reached,
    it is still recorded (201), and the answer lists the runs it could not tell.
    """
    event, created = await run_in_threadpool(_record, session, body)
    if not created:
        response.status_code = 200
        return EventAccepted.of(event, None)
    change = EventRecorded(name=event.name, occurred_at=event.occurred_at, properties=event.properties)
    dispatched = await dispatch(request.app, contact_id=event.contact_id, changes=[change])
    return EventAccepted.of(event, dispatched)


@router.get("", response_model=Page[EventPublic])
def list_events(
    session: SessionDep,
    page: PageDep,
    contact_id: IdQuery = None,
    name: Annotated[str | None, Query(max_length=100, description="Only events with this name")] = None,
) -> Page[EventPublic]:
    """Events matching the filters, most recently recorded first."""
    query = crud.filter_events(contact_id=contact_id, name=name)
    rows, next_cursor = paginate(session, query, ContactEvent.id, page, newest_first=True)
    return Page(data=[EventPublic.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.get("/{event_id}", response_model=EventPublic)
def read_event(session: SessionDep, event_id: IdPath) -> EventPublic:
    """One event."""
    event = crud.get_event(session, event_id=event_id)
    if event is None:
        raise not_found("event", event_id)
    return EventPublic.model_validate(event)
