"""1:1 email: a user's personal email to one contact, from the contact's, deal's or account's
record, and the Emails lists of each, with engagement and replies."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, selectinload

from api.deps import CurrentKey, SessionDep, SettingsDep, get_temporal
from api.errors import conflict, invalid, not_found
from api.idempotency import MEMO, IdempotencyKey, digest, message_key, refuse_another_request
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath
from api.routes.messages import accepted
from api.schemas.messages import MessageAccepted
from api.schemas.one_to_one import EmailEventPublic, EmailPublic, OneToOneCreate
from api.send_workflows import start_send
from nurture.crud import messages as crud
from nurture.crud.companies import get_account, get_deal
from nurture.crud.contacts import get_contact
from nurture.crud.users import get_user
from nurture.db.models import Contact, DealContact, Message
from nurture.mailbox.store import sender_of
from nurture.observability.metrics import count_send
from nurture.schemas.email import Content, SendRequest, TemplateKind

router = APIRouter(tags=["emails"])

PageDep = Annotated[PageParams, Depends(page_params)]
WaitQuery = Annotated[bool, Query(description="Wait (up to 30 s) until the worker has sent it")]


@dataclass(frozen=True)
class _Plan:
    """Who a 1:1 email is from and to, and what it concerns."""

    user_id: int
    from_email: str
    contact_id: int
    deal_id: int | None
    account_id: int | None
    # Over SMTP through the user's connected mailbox (else through Postmark).
    via_mailbox: bool


def _plan(
    session: Session,
    body: OneToOneCreate,
    *,
    contact: Contact,
    owner_id: int | None,
    deal_id: int | None,
    account_id: int | None,
) -> _Plan:
    """Check the sender and the sending mode; a 422 or 409 naming the field when it cannot go."""
    user_id = body.user_id or owner_id
    if user_id is None:
        raise invalid("user_id", "give the user it is from: the record has no owner")
    user = get_user(session, user_id=user_id)
    if user is None:
        raise invalid("user_id", f"user {user_id} does not exist")
    from_email, connected = sender_of(session, user)
    via = body.via or ("mailbox" if connected else "platform")
    if via == "platform" and connected:
        raise conflict(
            "via",
            f"user {user_id} has a connected mailbox, and 1:1 email goes through it: disconnect it "
            f"(DELETE /users/{user_id}/mailbox) to send through the platform",
        )
    if via == "mailbox" and not connected:
        raise conflict(
            "via", f"user {user_id} has no connected mailbox: connect one with PUT /users/{user_id}/mailbox"
        )
    for field in ("cc", "bcc"):
        if via == "platform" and getattr(body, field):
            raise invalid(
                field,
                f"{field.capitalize()} needs a connected mailbox (PUT /users/{user_id}/mailbox); "
                "through the platform a 1:1 email goes to the contact alone",
            )
    if body.html is None and body.text is None:
        raise invalid("html", "give html and/or text")
    return _Plan(user_id, from_email, contact.id, deal_id, account_id, connected)


async def _send(
    session: Session,
    settings: SettingsDep,
    request: Request,
    response: Response,
    *,
    plan: _Plan,
    body: OneToOneCreate,
    caller: int,
    idempotency_key: str | None,
    record: str,
    wait: bool,
) -> MessageAccepted:
    session.rollback()  # end the reads: on SQLite an open transaction holds the worker's lock
    temporal = await get_temporal(request)
    key = message_key("1to1", caller=caller, idempotency_key=idempotency_key)
    request_digest = digest(body, record=record)
    send = SendRequest(
        key=key,
        content=Content(subject=body.subject, html=body.html, text=body.text),
        contact_id=plan.contact_id,
        kind=TemplateKind.TRANSACTIONAL,
        from_email=plan.from_email,
        user_id=plan.user_id,
        deal_id=plan.deal_id,
        account_id=plan.account_id,
        cc=list(body.cc),
        bcc=list(body.bcc),
        via_mailbox=plan.via_mailbox,
        # A mailbox's replies come back to the mailbox, naming the email's Message-ID.
        route_replies=not plan.via_mailbox,
        request_digest=request_digest,
    )
    summary = f"1:1 email from user {plan.user_id} to contact {plan.contact_id} ({record})"
    handle, started = await start_send(
        temporal, settings, send=send, summary=summary, wait=wait, memo={MEMO: request_digest}
    )
    count_send("one_to_one", started=started)
    if not started:
        await refuse_another_request(handle, request_digest)
        response.status_code = 200
    return await accepted(session, settings, key=key, workflow_id=handle.id)


def _contact_plan(session: Session, contact_id: int, body: OneToOneCreate) -> _Plan:
    contact = get_contact(session, contact_id=contact_id)
    if contact is None:
        raise not_found("contact", contact_id)
    if body.contact_id is not None and body.contact_id != contact_id:
        raise invalid("contact_id", "an email from a contact's record goes to that contact")
    if body.deal_id is not None:
        linked = session.get(DealContact, (body.deal_id, contact_id))
        if linked is None:
            raise invalid("deal_id", f"contact {contact_id} is not on deal {body.deal_id}")
    return _plan(
        session,
        body,
        contact=contact,
        owner_id=contact.owner_id,
        deal_id=body.deal_id,
        account_id=contact.account_id,
    )


def _deal_plan(session: Session, deal_id: int, body: OneToOneCreate) -> _Plan:
    deal = get_deal(session, deal_id=deal_id)
    if deal is None:
        raise not_found("deal", deal_id)
    contact = _recipient(session, body)
    if session.get(DealContact, (deal_id, contact.id)) is None:
        raise invalid("contact_id", f"contact {contact.id} is not on deal {deal_id}")
    return _plan(
        session, body, contact=contact, owner_id=deal.owner_id, deal_id=deal_id, account_id=deal.account_id
    )


def _account_plan(session: Session, account_id: int, body: OneToOneCreate) -> _Plan:
    account = get_account(session, account_id=account_id)
    if account is None:
        raise not_found("account", account_id)
    contact = _recipient(session, body)
    if contact.account_id != account_id:
        raise invalid("contact_id", f"contact {contact.id} is not at account {account_id}")
    return _plan(
        session, body, contact=contact, owner_id=account.owner_id, deal_id=None, account_id=account_id
    )


def _recipient(session: Session, body: OneToOneCreate) -> Contact:
    if body.contact_id is None:
        raise invalid("contact_id", "give the contact it goes to")
    if body.deal_id is not None:
        raise invalid("deal_id", "only an email from a contact's record names a deal")
    contact = get_contact(session, contact_id=body.contact_id)
    if contact is None:
        raise invalid("contact_id", f"contact {body.contact_id} does not exist")
    return contact


@router.post("/contacts/{contact_id}/emails", status_code=202, response_model=MessageAccepted)
async def email_contact(
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentKey,
    contact_id: IdPath,
    body: OneToOneCreate,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = False,
) -> MessageAccepted:
    """Send a 1:1 email to a contact, from a user (the contact's owner when not given)."""
    plan = await run_in_threadpool(_contact_plan, session, contact_id, body)
    return await _send(
        session, settings, request, response, plan=plan, body=body, caller=caller.id,
        idempotency_key=idempotency_key, record=f"contact {contact_id}", wait=wait,
    )  # fmt: skip


@router.post("/deals/{deal_id}/emails", status_code=202, response_model=MessageAccepted)
async def email_deal_contact(
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentKey,
    deal_id: IdPath,
    body: OneToOneCreate,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = False,
) -> MessageAccepted:
    """Send a 1:1 email about a deal to one of its contacts, from a user (the deal's owner when not given)."""
    plan = await run_in_threadpool(_deal_plan, session, deal_id, body)
    return await _send(
        session, settings, request, response, plan=plan, body=body, caller=caller.id,
        idempotency_key=idempotency_key, record=f"deal {deal_id}", wait=wait,
    )  # fmt: skip


@router.post("/accounts/{account_id}/emails", status_code=202, response_model=MessageAccepted)
async def email_account_contact(
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentKey,
    account_id: IdPath,
    body: OneToOneCreate,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = False,
) -> MessageAccepted:
    """Send a 1:1 email to a contact at an account, from a user (the account's owner when not given)."""
    plan = await run_in_threadpool(_account_plan, session, account_id, body)
    return await _send(
        session, settings, request, response, plan=plan, body=body, caller=caller.id,
        idempotency_key=idempotency_key, record=f"account {account_id}", wait=wait,
    )  # fmt: skip


def _emails(session: Session, page: PageParams, *, where: ColumnElement[bool]) -> Page[EmailPublic]:
    query = select(Message).where(Message.user_id.is_not(None), where).options(selectinload(Message.body))
    rows, next_cursor = paginate(session, query, Message.id, page, newest_first=True)
    emails = []
    for message in rows:
        email = EmailPublic.model_validate(message)
        events = crud.message_events(session, message_id=message.id)
        email.events = [EmailEventPublic.model_validate(e) for e in events]
        emails.append(email)
    return Page(data=emails, next_cursor=next_cursor)


@router.get("/contacts/{contact_id}/emails", response_model=Page[EmailPublic])
def contact_emails(session: SessionDep, contact_id: IdPath, page: PageDep) -> Page[EmailPublic]:
    """The contact's Emails list: its 1:1 emails, newest first, with engagement and replies."""
    if get_contact(session, contact_id=contact_id) is None:
        raise not_found("contact", contact_id)
    return _emails(session, page, where=Message.contact_id == contact_id)


@router.get("/deals/{deal_id}/emails", response_model=Page[EmailPublic])
def deal_emails(session: SessionDep, deal_id: IdPath, page: PageDep) -> Page[EmailPublic]:
    """The deal's Emails list: the 1:1 emails about it, newest first, with engagement and replies."""
    if get_deal(session, deal_id=deal_id) is None:
        raise not_found("deal", deal_id)
    return _emails(session, page, where=Message.deal_id == deal_id)


@router.get("/accounts/{account_id}/emails", response_model=Page[EmailPublic])
def account_emails(session: SessionDep, account_id: IdPath, page: PageDep) -> Page[EmailPublic]:
    """The account's Emails list: 1:1 emails to its contacts, newest first, with engagement and replies."""
    if get_account(session, account_id=account_id) is None:
        raise not_found("account", account_id)
    return _emails(session, page, where=Message.account_id == account_id)
