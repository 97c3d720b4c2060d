"""Sending emails through the ledger in batches, at most once per key; a single send is a batch of one.

An attempt goes through four steps, with the database work of each done for the whole batch:

1. New keys' emails are composed (checked for eligibility, rendered) after their reads end,
   holding no lock. Then one transaction takes every key: a final key answers from the ledger;
   a `sending` key is claimed, unless another attempt's lease holds it (it stays unfinished);
   the new keys are written `sending`, together.
2. Keys an earlier attempt may have sent are searched for at the provider before anything is
   resent, a wave at a time with the lease renewed before each wave, and every earlier key's
   contact is checked again (retries can go on for a day).
3. The rest go out in one provider call.
4. One transaction records every result: sent, suppressed, failed, or released for a retry
   (held back for the search to catch up when the provider may have taken it).
"""

import logging
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from nurture.db.base import utcnow
from nurture.db.models import Message
from nurture.db.session import readers, transaction
from nurture.email import ledger
from nurture.email.attachments import AttachmentsMissing, discard, staged
from nurture.email.compose import outgoing_of
from nurture.email.new_message import LedgerRow
from nurture.email.outgoing import (
    EmailProvider,
    NotSent,
    OutcomeUnknown,
    OutgoingEmail,
    ProviderError,
    RecipientInactive,
    Rejected,
)
from nurture.email.reserve import Draft, Drafting, Standing, contacts_by_id, reserve
from nurture.observability.send_counter import SendCounter
from nurture.schemas.email import MessageStatus, SendRequest, SendResult
from nurture.settings import Settings

log = logging.getLogger(__name__)
# Provider searches run this many at once when many keys of a batch must be reconciled.
SEARCH_THREADS = 8
# A concurrent attempt can reserve some of the same keys first; then they are claimed instead.
RESERVE_TRIES = 3
SEARCH_UNAVAILABLE = "an attempt stopped mid-send and the provider cannot be asked; not resent"


@dataclass(frozen=True)
class Held:
    """A key this attempt holds the lease of, and the email to hand the provider."""

    message_id: int
    email: OutgoingEmail
    # Whether the provider may already have it: it must be asked before sending.
    maybe_sent: bool
    # An earlier attempt reserved the key: its contact is checked again before sending.
    earlier: bool
    # For the `email.sent` activity event.
    contact_id: int | None
    template_id: int | None

    def accepted(self, provider_id: str) -> ledger.Accepted:
        """The key as the provider took it from this attempt."""
        email = self.email
        return ledger.Accepted(
            message_id=self.message_id,
            key=email.key,
            provider_id=provider_id,
            contact_id=self.contact_id,
            subject=email.subject,
            template_id=self.template_id,
            stream=email.stream,
        )


@dataclass
class Tally:
    """What the keys of a batch came to: final results, and why the others are not finished."""

    done: dict[str, SendResult] = field(default_factory=dict)
    unfinished: dict[str, ProviderError] = field(default_factory=dict)
    # Keys an earlier attempt finished: this one only read their results.
    earlier: set[str] = field(default_factory=set)
    # Unfinished keys held back until a known time (another attempt's lease, or the provider's
    # search catching up): a retry before then would find them held still.
    held_until: dict[str, datetime] = field(default_factory=dict)

    def left(self, message: Message, error: ProviderError) -> None:
        """A key left unfinished, held back until its row's `lease_until` if it has one."""
        self.unfinished[message.key] = error
        if message.lease_until is not None:
            self.held_until[message.key] = message.lease_until

    def retry_at(self) -> datetime | None:
        """When a retry can take every unfinished key: the end of the last hold, if each is held
        until a known time (else at once, as the retry policy sees fit)."""
        if not self.unfinished or not self.unfinished.keys() <= self.held_until.keys():
            return None
        return max(self.held_until[key] for key in self.unfinished)


# What the provider made of each email sent, in order: its id or the error for that email.
Outcome = str | ProviderError


class BatchSender:
    """Sends emails through one provider, with a ledger row per key; built once per pipeline."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        settings: Settings,
        provider: EmailProvider,
        lease: timedelta,
        call: timedelta,
        counter: SendCounter | None = None,
    ) -> None:
        """`lease` covers a search and a send; `call` covers one provider call and its database
        work; `counter` counts the keys each attempt finishes."""
        self._counter = counter
        self._sessions = sessions
        # Drafting only reads: on SQLite it then holds no lock while other batches write.
        self._readers = readers(sessions)
        self._settings = settings
        self._provider = provider
        self._lease = lease
        self._call = call

    def send(self, requests: list[SendRequest], *, single: bool = False) -> Tally:
        """Send each request's email once, in one provider call.

        `single`: one request, through the provider's single send rather than its batch call.
        """
        unique = _unique(requests)
        owner = str(uuid.uuid4())
        held, tally = self._begin(unique, owner=owner)
        earlier = [h for h in held if h.earlier]
        if earlier:
            held = [h for h in held if not h.earlier] + self._settle(earlier, owner=owner, tally=tally)
        if held:
            self._deliver(held, tally, single=single)
        self._finish(unique, tally)
        return tally

    def give_up(self, requests: list[SendRequest], *, why: str) -> Tally:
        """Close keys that will not be retried any more: sent if the provider has them, else failed."""
        owner = str(uuid.uuid4())
        unique = _unique(requests)
        held, tally = self._begin(unique, owner=owner)
        maybe = [h for h in held if h.maybe_sent and self._provider.can_search]
        found, search_failed = self._search(maybe, holding=held, owner=owner)
        with transaction(self._sessions) as session, ledger.changes(session) as changes:
            messages = _messages(session, held)
            for h in held:
                message = messages[h.message_id]
                if h.message_id in search_failed:
                    error = search_failed[h.message_id]
                    ledger.release(message, reason=error.reason, maybe_sent=False, hold_until=None)
                    tally.unfinished[message.key] = error
                elif h.message_id in found:
                    provider_id = found[h.message_id]
                    tally.done[message.key] = changes.mark_found(message, provider_id=provider_id)
                else:
                    reason = f"gave up: {why}"
                    tally.done[message.key] = changes.close(message, MessageStatus.FAILED, reason)
        self._finish(unique, tally)
        return tally

    def _finish(self, requests: dict[str, SendRequest], tally: Tally) -> None:
        """Count the keys this attempt finished, and drop the staged files of keys now final
        (the message keeps their names and sizes)."""
        if self._counter is not None:
            statuses = [result.status for key, result in tally.done.items() if key not in tally.earlier]
            self._counter.count(provider=self._provider.name, statuses=statuses)
        final = [key for key, request in requests.items() if request.attachments and key in tally.done]
        if final:
            with transaction(self._sessions) as session:
                discard(session, final)

    def _begin(self, requests: dict[str, SendRequest], *, owner: str) -> tuple[list[Held], Tally]:
        """Step 1: final results, claims on `sending` keys, new keys reserved (in one transaction)."""
        for attempt in range(RESERVE_TRIES):
            drafts, failed = self._draft(requests)
            tally = Tally()
            try:
                with transaction(self._sessions) as session, ledger.changes(session) as changes:
                    held = self._claim(changes, requests, owner=owner, tally=tally)
                    claimed = {h.email.key for h in held} | tally.done.keys() | tally.unfinished.keys()
                    tally.done.update((key, result) for key, result in failed.items() if key not in claimed)
                    new = [d for d in drafts if d.key not in claimed]
                    if new:
                        until = utcnow() + self._lease
                        ready, ended = reserve(
                            changes, new, owner=owner, until=until, settings=self._settings
                        )
                        tally.done.update(ended)
                        held += _hold(changes, ready, tally, earlier=False)
                return held, tally
            except IntegrityError:
                # Another attempt reserved some of these keys just now: the next try claims them.
                if attempt == RESERVE_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _draft(self, requests: dict[str, SendRequest]) -> tuple[list[Draft], dict[str, SendResult]]:
        """The emails of the keys the ledger does not have yet, and the keys that cannot be made.

        Composing is most of a batch's work: it runs after the reads (of a snapshot, taking no
        lock) end, holding no transaction open meanwhile.
        """
        with self._readers() as session:
            known = set(session.scalars(select(Message.key).where(Message.key.in_(requests))))
            new = [request for key, request in requests.items() if key not in known]
            if not new:
                return [], {}
            drafting = Drafting(session, new, settings=self._settings, provider=self._provider.name)
            session.commit()  # a read-only transaction; the objects read stay loaded
            return drafting.compose(), drafting.failed

    def _claim(
        self, changes: ledger.Changes, requests: dict[str, SendRequest], *, owner: str, tally: Tally
    ) -> list[Held]:
        # Locked in id order, so two attempts on overlapping batches never deadlock.
        query = (
            select(Message)
            .where(Message.key.in_(requests))
            .order_by(Message.id)
            .with_for_update()
            # A claimed key is resent as it was: its bodies in one more query, not one per key.
            .options(selectinload(Message.body))
        )
        now = utcnow()
        claimed: list[Message] = []
        for message in changes.session.scalars(query):
            if message.status != MessageStatus.SENDING:
                tally.done[message.key] = ledger.result_of(message)
                tally.earlier.add(message.key)
            elif ledger.claim(message, owner=owner, now=now):
                claimed.append(message)
            else:
                tally.left(message, NotSent(f"{message.key} is in flight or held for reconciliation"))
        # Long enough for a first wave of searches, then the send: `_search` renews the lease
        # before each later wave, so a worker that dies mid-search holds the keys no longer.
        searches = 1 if any(m.maybe_sent for m in claimed) else 0
        until = now + self._lease + searches * self._call
        for message in claimed:
            message.lease_until = until
        return _hold(changes, claimed, tally, earlier=True)

    def _settle(self, earlier: list[Held], *, owner: str, tally: Tally) -> list[Held]:
        """Step 2: of the keys an earlier attempt held, those still to send (their lease extended)."""
        can_search = self._provider.can_search
        maybe = [h for h in earlier if h.maybe_sent and can_search]
        found, search_failed = self._search(maybe, holding=earlier, owner=owner)
        sendable: list[Held] = []
        with transaction(self._sessions) as session, ledger.changes(session) as changes:
            messages = _messages(session, earlier, lock=True)
            contacts = contacts_by_id(session, (m.contact_id for m in messages.values() if m.contact_id))
            standing = Standing.read(
                session,
                emails=[c.email for c in contacts.values()],
                contact_ids=contacts,
                list_ids={m.list_id for m in messages.values() if m.list_id is not None},
            )
            now = utcnow()
            for h in earlier:
                message = messages[h.message_id]
                key = message.key
                if h.message_id in found:
                    log.info(
                        "Message %s was already accepted as %s; not sending again", key, found[h.message_id]
                    )
                    tally.done[key] = changes.mark_found(message, provider_id=found[h.message_id])
                    continue
                if h.message_id in search_failed:
                    # Never send again without knowing; let the next attempt ask again.
                    error = search_failed[h.message_id]
                    ledger.release(message, reason=error.reason, maybe_sent=False, hold_until=None)
                    tally.unfinished[key] = error
                    continue
                if h.maybe_sent and not can_search:
                    tally.done[key] = changes.close(message, MessageStatus.FAILED, SEARCH_UNAVAILABLE)
                    continue
                contact = contacts.get(message.contact_id) if message.contact_id else None
                if contact is not None:
                    why_not = standing.ineligible_reason(
                        contact=contact, kind=message.kind, list_id=message.list_id
                    )
                    if why_not is not None:
                        tally.done[key] = changes.close(message, MessageStatus.SUPPRESSED, why_not)
                        continue
                # The searches and checks took time: make sure the send still fits in the lease.
                if not ledger.still_holds(message, owner=owner, now=now):
                    tally.unfinished[key] = NotSent(f"the lease on {key} ran out before sending")
                    continue
                message.lease_until = now + self._call
                sendable.append(h)
        return sendable

    def _search(
        self, keys: list[Held], *, holding: list[Held], owner: str
    ) -> tuple[dict[int, str], dict[int, ProviderError]]:
        """The provider's id of each key it already has, and the keys it could not be asked about.

        The keys are searched a wave of `SEARCH_THREADS` at a time. A claim covers one wave
        (500 keys' searches can take half an hour at the provider's timeouts), so before each
        later wave the lease on every key of `holding` this attempt still holds is renewed.
        """
        found: dict[int, str] = {}
        failed: dict[int, ProviderError] = {}
        if not keys:
            return found, failed

        def ask(h: Held) -> str | ProviderError | None:
            try:
                return self._provider.find_sent(h.email)
            except ProviderError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=min(SEARCH_THREADS, len(keys))) as pool:
            for start in range(0, len(keys), SEARCH_THREADS):
                if start:
                    self._renew(holding, owner=owner)
                wave = keys[start : start + SEARCH_THREADS]
                for h, answer in zip(wave, pool.map(ask, wave), strict=True):
                    if isinstance(answer, ProviderError):
                        failed[h.message_id] = answer
                    elif answer is not None:
                        found[h.message_id] = answer
        return found, failed

    def _renew(self, holding: list[Held], *, owner: str) -> None:
        """Extend this attempt's lease on the keys it still holds, for one more wave of searches
        and the send (one statement: keys whose lease ran out, or another attempt took, are not
        touched)."""
        now = utcnow()
        with transaction(self._sessions) as session:
            session.execute(
                update(Message)
                .where(
                    Message.id.in_([h.message_id for h in holding]),
                    Message.status == MessageStatus.SENDING,
                    Message.lease_owner == owner,
                    Message.lease_until > now,
                )
                .values(lease_until=now + self._lease + self._call)
                .execution_options(synchronize_session=False)
            )

    def _deliver(self, held: list[Held], tally: Tally, *, single: bool) -> None:
        """Steps 3 and 4: one provider call, then one transaction recording what became of each key."""
        outcomes = self._call_provider([h.email for h in held], single=single)
        hold = utcnow() + timedelta(seconds=self._settings.reconcile_delay)
        accepted = [h.accepted(o) for h, o in zip(held, outcomes, strict=True) if isinstance(o, str)]
        others = [(h, o) for h, o in zip(held, outcomes, strict=True) if not isinstance(o, str)]
        with transaction(self._sessions) as session, ledger.changes(session) as changes:
            # Accepted keys are written without loading their rows: the rest are read.
            tally.done.update((sent.key, sent) for sent in changes.mark_accepted(accepted))
            messages = _messages(session, [h for h, _ in others])
            for h, outcome in others:
                message = messages[h.message_id]
                result = self._record(changes, message, outcome, hold=hold)
                if isinstance(result, SendResult):
                    tally.done[message.key] = result
                else:
                    tally.left(message, result)  # held for the search to catch up if it may be sent

    def _call_provider(self, emails: list[OutgoingEmail], *, single: bool) -> list[Outcome]:
        try:
            if single:
                [email] = emails
                return [self._provider.send(email)]
            outcomes = self._provider.send_batch(emails)
        except ProviderError as exc:
            # The whole call failed: the same for every email in it.
            return [exc] * len(emails)
        if len(outcomes) != len(emails):
            raise RuntimeError(
                f"{self._provider.name} answered {len(outcomes)} results for {len(emails)} emails"
            )
        return outcomes

    def _record(
        self, changes: ledger.Changes, message: Message, outcome: ProviderError, *, hold: datetime
    ) -> SendResult | ProviderError:
        """What a key the provider did not take came to: its final result, or the error that
        leaves it for a retry."""
        if isinstance(outcome, RecipientInactive):
            return changes.record_inactive(message, outcome)
        if isinstance(outcome, Rejected):
            return changes.close(message, MessageStatus.FAILED, outcome.reason, count=True)
        if isinstance(outcome, OutcomeUnknown):
            if not self._provider.can_search:
                reason = f"{outcome.reason}; the outcome is unknown and not resent, to avoid a duplicate"
                return changes.close(message, MessageStatus.FAILED, reason, count=True)
            # Hold the key until the provider's search can be trusted to show the send.
            ledger.release(message, reason=outcome.reason, maybe_sent=True, hold_until=hold)
            return outcome
        ledger.release(message, reason=outcome.reason, maybe_sent=False, hold_until=None)
        return outcome


def _hold(
    changes: ledger.Changes, messages: Sequence[LedgerRow], tally: Tally, *, earlier: bool
) -> list[Held]:
    """The emails of keys this attempt holds, with their staged files; a key whose files are gone
    fails rather than going out without them."""
    held = []
    for message in messages:
        assert message.id is not None  # reserved keys have theirs
        try:
            files = staged(changes.session, message)
        except AttachmentsMissing as exc:
            tally.done[message.key] = changes.close(message, MessageStatus.FAILED, str(exc))
            continue
        email = outgoing_of(message, attachments=files)
        held.append(
            Held(message.id, email, message.maybe_sent, earlier, message.contact_id, message.template_id)
        )
    return held


def _unique(requests: list[SendRequest]) -> dict[str, SendRequest]:
    """The requests by key, the first of a repeated key winning (a key is one email however often asked)."""
    unique: dict[str, SendRequest] = {}
    for request in requests:
        unique.setdefault(request.key, request)
    return unique


def _messages(session: Session, held: list[Held], *, lock: bool = False) -> dict[int, Message]:
    """The ledger rows of these keys (their bodies stay unread: the emails are in hand already)."""
    ids = [h.message_id for h in held]
    if not ids:
        return {}
    query = select(Message).where(Message.id.in_(ids)).order_by(Message.id)
    if lock:
        query = query.with_for_update()
    return {m.id: m for m in session.scalars(query)}
