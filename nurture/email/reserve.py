"""Reserving new message keys, many at once: read what they need in a few queries, render each once.

Every key is written `sending`, with the rendered email, before any provider is called; a key
whose recipient may not get it is closed `suppressed` with why, one whose template cannot be
rendered `failed`. Two steps: `Drafting` reads (contacts, templates, users, lists, suppressions,
subscriptions: one query each for the whole batch) and then composes every email with no
database work, holding no lock; `reserve` then takes the ids, and the ledger's changes write
every message in one INSERT. A recipient who opts out between the two still gets the
email at most once; every later attempt checks again before sending.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, lazyload

from nurture.crud.suppressions import blocks
from nurture.db.models import (
    Contact,
    ContactStatus,
    ListSubscription,
    MailingList,
    Message,
    SubscriptionStatus,
    Suppression,
    Template,
    User,
)
from nurture.db.write_turns import give_way_to_writer
from nurture.email import ledger
from nurture.email.compose import Composed, compose
from nurture.email.new_message import NewMessage
from nurture.schemas.email import MessageStatus, SendRequest, SendResult, TemplateKind
from nurture.settings import Settings
from nurture.templates.context import recipient_contact
from nurture.templates.errors import TemplateRenderError
from nurture.templates.literal import LiteralEmail
from nurture.templates.render import PreparedTemplate, Renderable
from nurture.tracking.links import LinkLines
from nurture.tracking.replies import reply_address
from nurture.tracking.tokens import Slots

Row = TypeVar("Row", Contact, Template, User)


def failed(request: SendRequest, reason: str) -> SendResult:
    """A request that cannot become a message at all (nothing is written to the ledger)."""
    return SendResult(message_id=None, key=request.key, status=MessageStatus.FAILED, reason=reason)


@dataclass(frozen=True)
class Standing:
    """The suppressions and list subscriptions of many recipients, read in two queries.

    The one place the eligibility rules live; nurture/email/eligibility.py asks it for one recipient.
    """

    suppressions: dict[str, Suppression]
    # The status of each (list, contact) subscription there is.
    subscriptions: dict[tuple[int, int], SubscriptionStatus]

    @classmethod
    def read(
        cls, session: Session, *, emails: Iterable[str], contact_ids: Iterable[int], list_ids: Iterable[int]
    ) -> "Standing":
        """The standing of these addresses, and of these contacts on these lists."""
        addresses = {email.strip().lower() for email in emails}
        suppressions = {
            row.email: row
            for row in session.scalars(select(Suppression).where(Suppression.email.in_(addresses)))
        }
        lists, contacts = set(list_ids), set(contact_ids)
        subscriptions = {}
        if lists and contacts:
            # Their statuses alone: a batch's 500 subscriptions as ORM rows cost a twentieth of it.
            query = select(
                ListSubscription.list_id, ListSubscription.contact_id, ListSubscription.status
            ).where(ListSubscription.list_id.in_(lists), ListSubscription.contact_id.in_(contacts))
            subscriptions = {
                (list_id, contact_id): status for list_id, contact_id, status in session.execute(query)
            }
        return cls(suppressions, subscriptions)

    def recipient_suppressed(self, *, email: str, kind: TemplateKind) -> str | None:
        """Why this address must not get this kind of email because of the suppression list, or None."""
        suppression = self.suppressions.get(email.strip().lower())
        if suppression is not None and blocks(suppression, kind=kind):
            return f"{email} is on the suppression list ({suppression.reason.value})"
        return None

    def ineligible_reason(self, *, contact: Contact, kind: TemplateKind, list_id: int | None) -> str | None:
        """Why this contact must not get this email, or None if it may (see `ineligible_reason`)."""
        suppressed = self.recipient_suppressed(email=contact.email, kind=kind)
        if suppressed is not None:
            return suppressed
        if kind == TemplateKind.TRANSACTIONAL:
            if contact.status == ContactStatus.BOUNCED:
                return "the contact's address has hard-bounced"
            return None
        if contact.status != ContactStatus.ACTIVE:
            return f"the contact is {contact.status.value}"
        if list_id is not None:
            subscription = self.subscriptions.get((list_id, contact.id))
            if subscription != SubscriptionStatus.SUBSCRIBED:
                standing = subscription.value if subscription else "not on the list"
                return f"the contact is not subscribed to list {list_id} ({standing})"
        return None


def next_ids(session: Session, count: int) -> list[int]:
    """`count` ids for new messages, taken before inserting them.

    PostgreSQL hands them out from the table's sequence, safe under concurrent inserts. SQLite
    numbers rows max(id) + 1 anyway; every transaction there holds the write lock from its start
    (BEGIN IMMEDIATE), so no other insert can take these before this transaction ends.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        query = text("SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, :n)")
        return list(session.scalars(query, {"n": count}))
    if dialect == "sqlite":
        last: int = session.scalar(select(func.coalesce(func.max(Message.id), 0))) or 0
        return list(range(last + 1, last + 1 + count))
    # The two databases Nurture runs on (DESIGN.md); its migrations and engine setup know no others.
    raise RuntimeError(f"Nurture runs on SQLite or PostgreSQL; this database is {dialect}")


def contacts_by_id(session: Session, ids: Iterable[int]) -> dict[int, Contact]:
    """These contacts by id, without their tags and subscriptions (two more queries, unused here)."""
    options = [lazyload(Contact.tags), lazyload(Contact.subscriptions)]
    return _by_id(session, Contact, ids, options)


def _by_id(
    session: Session, model: type[Row], ids: Iterable[int], options: list[Any] | None = None
) -> dict[int, Row]:
    wanted = set(ids)
    if not wanted:
        return {}
    query = select(model).where(model.id.in_(wanted)).options(*(options or []))
    return {row.id: row for row in session.scalars(query)}


@dataclass(frozen=True)
class Planned:
    """A new key's message row (its id provisional until reserved), and what composing it needs."""

    request: SendRequest
    message: NewMessage
    # None for an email to an address that is no contact's (transactional only).
    contact: Contact | None
    # None for an email written out in full (`request.content`).
    template: Template | None
    # To an account user about the contact: only the user's own suppression counts.
    notify: bool


@dataclass(frozen=True)
class Draft:
    """A new key as it will be reserved: its email, or why it ends at once (suppressed, failed)."""

    planned: Planned
    composed: Composed | None = None
    closed: tuple[MessageStatus, str] | None = None

    @property
    def key(self) -> str:
        """The message key."""
        return self.planned.request.key


@dataclass(frozen=True)
class Sources:
    """What new keys are made from, each kind read in one query for the whole batch."""

    contacts: dict[int, Contact]
    templates: dict[int, Template]
    users: dict[int, User]
    lists: set[int]

    @classmethod
    def read(cls, session: Session, requests: list[SendRequest]) -> "Sources":
        """The contacts, templates, users and lists these requests name (those that exist)."""
        contacts = contacts_by_id(session, (r.contact_id for r in requests if r.contact_id is not None))
        # The contacts' owners too: templates show `contact.owner`, and the session then has them.
        user_ids = [r.to_user_id for r in requests if r.to_user_id is not None]
        user_ids += [c.owner_id for c in contacts.values() if c.owner_id is not None]
        list_ids = {r.list_id for r in requests if r.list_id is not None}
        lists = select(MailingList.id).where(MailingList.id.in_(list_ids))
        return cls(
            contacts=contacts,
            templates=_by_id(
                session, Template, (r.template_id for r in requests if r.template_id is not None)
            ),
            users=_by_id(session, User, user_ids),
            lists=set(session.scalars(lists)) if list_ids else set(),
        )

    def plan(self, request: SendRequest, *, settings: Settings, provider: str) -> Planned | str:
        """The message row for a request (not yet leased); or why there can be none."""
        contact = self.contacts.get(request.contact_id) if request.contact_id is not None else None
        template = self.templates.get(request.template_id) if request.template_id is not None else None
        if request.contact_id is not None and contact is None:
            return f"contact {request.contact_id} does not exist"
        if request.template_id is not None and template is None:
            return f"template {request.template_id} does not exist"
        if request.list_id is not None and request.list_id not in self.lists:
            return f"list {request.list_id} does not exist"
        kind = request.kind or (template.kind if template is not None else TemplateKind.TRANSACTIONAL)
        recipient = contact.email if contact is not None else request.to_email or ""
        if contact is None and kind == TemplateKind.MARKETING:
            # Opt-outs and the unsubscribe link belong to a contact.
            return "marketing email is sent to contacts only"
        notify = request.to_user_id is not None or request.notify_owner
        if notify:
            if contact is None:
                return "a notification about a contact needs the contact"
            user_id = request.to_user_id or contact.owner_id
            user = self.users.get(user_id) if user_id else None
            if user is None:
                return f"no user to notify (user {user_id or 'owner'} of contact {contact.id})"
            recipient, kind = user.email, TemplateKind.TRANSACTIONAL
        streams = {
            TemplateKind.MARKETING: settings.postmark_broadcast_stream,
            TemplateKind.TRANSACTIONAL: settings.postmark_transactional_stream,
        }
        message = NewMessage(
            key=request.key,
            kind=kind,
            provider=provider,
            stream=streams[kind],
            contact_id=contact.id if contact is not None else None,
            template_id=template.id if template is not None else None,
            list_id=request.list_id,
            to_email=recipient,
            from_email=request.from_email or settings.email_from,
            reply_to=request.reply_to,
            custom_metadata=request.metadata or None,
            attachments=[info.model_dump(exclude_none=True) for info in request.attachments] or None,
            request_digest=request.request_digest,
            user_id=request.user_id,
            deal_id=request.deal_id,
            account_id=request.account_id,
            cc=request.cc or None,
            bcc=request.bcc or None,
            tag=request.tag,
            workflow_id=request.workflow_id,
        )
        return Planned(request, message, contact, template, notify)


class Drafting:
    """New keys' emails, composed before their keys are reserved.

    `read` does the batch's reads; `compose` then renders every email without touching the
    database, so a caller can end the reads first and hold no connection or lock meanwhile.
    """

    def __init__(
        self,
        session: Session,
        requests: list[SendRequest],
        *,
        settings: Settings,
        provider: str,
    ) -> None:
        """Read what the requests need: contacts, templates (compiled), users, lists, standing."""
        self._settings = settings
        sources = Sources.read(session, requests)
        self.failed: dict[str, SendResult] = {}
        self._planned: list[Planned] = []
        for request in requests:
            plan = sources.plan(request, settings=settings, provider=provider)
            if isinstance(plan, str):
                self.failed[request.key] = failed(request, plan)
            else:
                self._planned.append(plan)
        self._standing = Standing.read(
            session,
            emails=[p.message.to_email for p in self._planned],
            contact_ids=sources.contacts,
            list_ids=sources.lists,
        )
        # The batch's emails share most lines of HTML: each line's links are found once.
        self._links = LinkLines()
        self._slots = Slots()
        # Each template (with each replacement subject) is compiled once for the whole batch.
        self._prepared: dict[tuple[int, str | None], PreparedTemplate | TemplateRenderError] = {}
        for p in self._planned:
            if p.template is None:
                continue  # written out in full: nothing to compile
            which = (p.template.id, p.request.subject)
            if which not in self._prepared:
                try:
                    prepared = PreparedTemplate(session, p.template, subject=p.request.subject)
                    prepared.read_partials()
                    self._prepared[which] = prepared
                except TemplateRenderError as exc:
                    self._prepared[which] = exc

    def compose(self) -> list[Draft]:
        """Every planned key's draft: its email (tokens left as stand-ins), or why it ends now."""
        drafts = []
        for p in self._planned:
            give_way_to_writer()
            message = p.message
            if p.notify or p.contact is None:
                reason = self._standing.recipient_suppressed(email=message.to_email, kind=message.kind)
            else:
                reason = self._standing.ineligible_reason(
                    contact=p.contact, kind=message.kind, list_id=message.list_id
                )
            if reason is not None:
                drafts.append(Draft(p, closed=(MessageStatus.SUPPRESSED, reason)))
                continue
            try:
                composed = compose(
                    message=message,
                    template=self._renderable(p),
                    contact=p.contact or recipient_contact(message.to_email),
                    request=p.request,
                    settings=self._settings,
                    slots=self._slots,
                    links=self._links,
                )
            except TemplateRenderError as exc:
                what = f"template {p.template.id}" if p.template is not None else "the email"
                drafts.append(Draft(p, closed=(MessageStatus.FAILED, f"{what}: {exc}")))
                continue
            drafts.append(Draft(p, composed=composed))
        return drafts

    def _renderable(self, planned: Planned) -> Renderable:
        """What the planned email is rendered from: its template, compiled, or its own content.

        Raises:
            TemplateRenderError: the template could not be compiled.
        """
        if planned.template is None:
            assert planned.request.content is not None  # a SendRequest has one or the other
            return LiteralEmail(planned.request.content)
        template = self._prepared[(planned.template.id, planned.request.subject)]
        if isinstance(template, TemplateRenderError):
            raise template
        return template


def reserve(
    changes: ledger.Changes,
    drafts: list[Draft],
    *,
    owner: str,
    until: datetime,
    settings: Settings,
) -> tuple[list[NewMessage], dict[str, SendResult]]:
    """A row for each drafted key: `sending`, leased to `owner` until `until`, or closed; the
    changes write them all when they end.

    Returns:
        The messages to send now, and the keys that ended at once (suppressed or failed).
    """
    session = changes.session
    ended: dict[str, SendResult] = {}
    ready: list[NewMessage] = []
    # The ids go into tracking and unsubscribe tokens: taken first, so that each message is
    # inserted once, complete, and all of them in one executemany.
    for draft, message_id in zip(drafts, next_ids(session, len(drafts)), strict=True):
        message = draft.planned.message
        message.id = message_id
        message.lease_owner, message.lease_until = owner, until
        if draft.planned.request.route_replies and settings.postmark_inbound_address:
            # The address names the message: its id is known only now. With no inbound address,
            # replies go to the sender's own address (and are not recorded).
            message.reply_to = reply_address(settings, message_id=message_id)
        changes.add(message)
        if draft.closed is not None:
            status, reason = draft.closed
            ended[message.key] = changes.close(message, status, reason)
            continue
        assert draft.composed is not None
        draft.composed.signed_for(message_id, settings).fill(message)
        ready.append(message)
    return ready, ended
