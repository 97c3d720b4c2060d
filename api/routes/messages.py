"""/messages: send one email through the durable pipeline and read what became of it."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.deps import SessionDep, SettingsDep, get_temporal
from api.errors import invalid, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath, IdQuery
from api.schemas.messages import MessageAccepted, MessageCreate, MessageEventPublic, MessagePublic
from api.send_workflows import start_send
from nurture.crud import messages as crud
from nurture.crud.contacts import get_contact
from nurture.crud.lists import get_list
from nurture.db.models import Message, Template
from nurture.observability.metrics import count_send
from nurture.schemas.email import MessageStatus, SendRequest, TemplateKind
from nurture.settings import Settings
from nurture.temporal.client import ui_link

router = APIRouter(prefix="/messages", tags=["messages"])

PageDep = Annotated[PageParams, Depends(page_params)]


def _public(session: Session, message: Message) -> MessagePublic:
    public = MessagePublic.model_validate(message)
    events = crud.message_events(session, message_id=message.id)
    public.events = [MessageEventPublic.model_validate(e) for e in events]
    return public


def _check_references(session: Session, body: MessageCreate) -> None:
    try:
        template = session.get(Template, body.template_id)
        if template is None:
            raise invalid("template_id", f"template {body.template_id} does not exist")
        if get_contact(session, contact_id=body.contact_id) is None:
            raise invalid("contact_id", f"contact {body.contact_id} does not exist")
        if body.list_id is not None:
            if template.kind != TemplateKind.MARKETING:
                raise invalid("list_id", "only marketing email is sent for a list")
            if get_list(session, list_id=body.list_id) is None:
                raise invalid("list_id", f"list {body.list_id} does not exist")
    finally:
        # End the read before waiting on the worker: on SQLite any open transaction holds the
        # lock the worker needs to record the send.
        session.rollback()


def _read_by_key(session: Session, key: str) -> MessagePublic | None:
    message = crud.get_message_by_key(session, key=key)
    return _public(session, message) if message else None


@router.post("", status_code=202, response_model=MessageAccepted)
async def send_message(
    session: SessionDep,
    settings: SettingsDep,
    body: MessageCreate,
    request: Request,
    response: Response,
    wait: Annotated[bool, Query(description="Wait (up to 30 s) until the worker has sent it")] = False,
) -> MessageAccepted:
    """Send a template to a contact, durably and once per key; 200 if the key was used before."""
    # Database work runs on the thread pool: a SQLite lock wait must not stall the event loop.
    await run_in_threadpool(_check_references, session, body)
    # Only now: bad input is named even while Temporal is down.
    temporal = await get_temporal(request)
    key = body.key or f"api-{uuid.uuid4()}"
    send = SendRequest(
        key=key,
        template_id=body.template_id,
        contact_id=body.contact_id,
        list_id=body.list_id,
        model=body.model,
        from_email=body.from_email,
        tag=body.tag,
    )
    summary = f"Send template {body.template_id} to contact {body.contact_id}"
    handle, started = await start_send(temporal, settings, send=send, summary=summary, wait=wait)
    count_send("template", started=started)
    if not started:
        response.status_code = 200
    return await accepted(session, settings, key=key, workflow_id=handle.id)


async def accepted(session: Session, settings: Settings, *, key: str, workflow_id: str) -> MessageAccepted:
    """The answer to a send: where to follow it, and the message once the worker has it."""
    message = await run_in_threadpool(_read_by_key, session, key)
    return MessageAccepted(
        key=key,
        workflow_id=workflow_id,
        ui_url=ui_link(settings, workflow_id),
        status=message.status if message else None,
        message=message,
    )


@router.get("", response_model=Page[MessagePublic])
def list_messages(
    session: SessionDep,
    page: PageDep,
    contact_id: IdQuery = None,
    status: MessageStatus | None = None,
    key: str | None = None,
) -> Page[MessagePublic]:
    """Messages matching every filter given, newest first."""
    query = crud.filter_messages(contact_id=contact_id, status=status, key=key)
    rows, next_cursor = paginate(session, query, Message.id, page, newest_first=True)
    return Page(data=[MessagePublic.model_validate(m) for m in rows], next_cursor=next_cursor)


@router.get("/{message_id}", response_model=MessagePublic)
def read_message(session: SessionDep, message_id: IdPath) -> MessagePublic:
    """One message with its status, why, and every event recorded on it."""
    message = crud.get_message(session, message_id=message_id)
    if message is None:
        raise not_found("message", message_id)
    return _public(session, message)
