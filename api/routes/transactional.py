"""/messages/transactional: one email an application's user expects, durable and once per
Idempotency-Key; no unsubscribe link, the transactional stream, marketing opt-outs ignored."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import CurrentKey, SessionDep, SettingsDep, get_temporal
from api.errors import invalid
from api.idempotency import MEMO, IdempotencyKey, digest, message_key, refuse_another_request
from api.routes.messages import accepted
from api.schemas.messages import MessageAccepted
from api.schemas.transactional import TransactionalCreate
from api.send_workflows import start_send
from nurture.crud.contacts import get_contact
from nurture.db.models import ContactStatus, Message, MessageStatus, Suppression, Template
from nurture.email.attachments import discard, info_of, stage
from nurture.email.outgoing import Attachment
from nurture.observability.metrics import count_send
from nurture.schemas.email import Content, SendRequest, TemplateKind

router = APIRouter(prefix="/messages", tags=["messages"])


def _one_recipient_one_email(body: TransactionalCreate) -> None:
    """A 422 naming the field unless the body names one recipient and one email."""
    if (body.to is None) == (body.contact_id is None):
        raise invalid("to", "give either to or contact_id")
    if body.template_id is not None:
        if body.subject is not None or body.html is not None or body.text is not None:
            raise invalid("template_id", "give either template_id or subject with html/text, not both")
    elif body.subject is None:
        raise invalid("subject", "give template_id, or subject with html and/or text")
    elif body.html is None and body.text is None:
        raise invalid("html", "give html and/or text with the subject")


def _check(session: Session, body: TransactionalCreate) -> None:
    """A 422 naming the field if the template or contact does not exist, or the address must not
    get email: it hard-bounced, complained, or is suppressed by hand."""
    try:
        if body.template_id is not None and session.get(Template, body.template_id) is None:
            raise invalid("template_id", f"template {body.template_id} does not exist")
        contact = None
        if body.contact_id is not None:
            contact = get_contact(session, contact_id=body.contact_id)
            if contact is None:
                raise invalid("contact_id", f"contact {body.contact_id} does not exist")
        field, address = ("contact_id", contact.email) if contact is not None else ("to", body.to or "")
        suppression = session.scalar(select(Suppression).where(Suppression.email == address.strip().lower()))
        why = None
        if suppression is not None:
            why = f"{address} is on the suppression list ({suppression.reason.value})"
        elif contact is not None and contact.status in (ContactStatus.BOUNCED, ContactStatus.COMPLAINED):
            why = f"the contact has {contact.status.value}"
        if why is not None:
            raise invalid(field, f"{why}: transactional email is not sent to it")
    finally:
        # End the read before waiting on the worker: on SQLite an open transaction holds the lock.
        session.rollback()


def _unstage(session: Session, key: str, *, only_if_final: bool) -> None:
    """Drop files this request staged that no run will send; while the first request's run may
    still need them (`only_if_final` and not final yet), they stay for it to drop."""
    if only_if_final:
        status = session.scalar(select(Message.status).where(Message.key == key))
        if status is None or status == MessageStatus.SENDING:
            session.rollback()
            return
    discard(session, [key])
    session.commit()


@router.post("/transactional", status_code=202, response_model=MessageAccepted)
async def send_transactional(
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentKey,
    body: TransactionalCreate,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    wait: Annotated[bool, Query(description="Wait (up to 30 s) until the worker has sent it")] = False,
) -> MessageAccepted:
    """Send one transactional email; 200 with the first result when the Idempotency-Key was used.

    Refused (422) for an address that hard-bounced or complained; sent to contacts who
    unsubscribed from marketing.
    """
    _one_recipient_one_email(body)
    await run_in_threadpool(_check, session, body)
    temporal = await get_temporal(request)
    key = message_key("tx", caller=caller.id, idempotency_key=idempotency_key)
    request_digest = digest(body)
    files = [Attachment(a.name, a.media_type(), a.data(), a.content_id) for a in body.attachments]
    # Before the run starts, which reads them; never through its history.
    staged_now = await run_in_threadpool(stage, session, key=key, attachments=files)
    content = None
    if body.template_id is None:
        assert body.subject is not None  # the schema asks for a template or a subject
        content = Content(subject=body.subject, html=body.html, text=body.text)
    send = SendRequest(
        key=key,
        template_id=body.template_id,
        content=content,
        contact_id=body.contact_id,
        to_email=body.to,
        kind=TemplateKind.TRANSACTIONAL,
        model=body.model,
        from_email=body.from_email,
        reply_to=body.reply_to,
        tag=body.tag,
        metadata=body.metadata,
        request_digest=request_digest,
        attachments=[info_of(file) for file in files],
    )
    recipient = f"contact {body.contact_id}" if body.contact_id is not None else "an address"
    what = f"template {body.template_id}" if body.template_id is not None else "an email"
    memo = {MEMO: request_digest}
    handle, started = await start_send(
        temporal, settings, send=send, summary=f"Transactional: {what} to {recipient}", wait=wait, memo=memo
    )
    count_send("transactional", started=started)
    if not started:
        try:
            await refuse_another_request(handle, request_digest)
        except Exception:
            if staged_now:  # this request's own files, under a key another request holds
                await run_in_threadpool(_unstage, session, key, only_if_final=False)
            raise
        if staged_now:  # staged again after the first request's were sent and dropped
            await run_in_threadpool(_unstage, session, key, only_if_final=True)
        response.status_code = 200
    return await accepted(session, settings, key=key, workflow_id=handle.id)
