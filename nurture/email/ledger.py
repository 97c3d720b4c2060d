"""The send ledger's state changes for many keys in one transaction: leases taken, and how attempts end.

Written together: nothing flushes per key; new keys' rows, and the activity events that go with
the changes, are inserted in one statement each when the batch's changes are written, instead of
a statement or two per key.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session

from nurture.crud.contacts import get_contact
from nurture.crud.suppressions import suppress_address
from nurture.crud.unsubscribe import unsubscribe
from nurture.db.base import utcnow
from nurture.db.models import ActivityEvent, Message, MessageBody, SuppressionReason
from nurture.email.new_message import LedgerRow, NewMessage
from nurture.email.outgoing import RecipientInactive
from nurture.schemas.email import MessageStatus, SendResult, TemplateKind


def result_of(message: LedgerRow) -> SendResult:
    """What the ledger says became of a message."""
    return SendResult(
        message_id=message.id,
        key=message.key,
        status=message.status,
        reason=message.reason,
        provider_message_id=message.provider_message_id,
    )


# Postmark's reasons for an inactive recipient, as Nurture's suppression reasons.
INACTIVE_REASONS = {
    "HardBounce": SuppressionReason.HARD_BOUNCE,
    "SpamComplaint": SuppressionReason.SPAM_COMPLAINT,
}


def claim(message: Message, *, owner: str, now: datetime) -> bool:
    """Take the lease of a `sending` key (its end is the caller's to set), unless it is held.

    A key is held while another attempt's lease runs, or while it waits for the provider's
    search to catch up. The caller has read the row `FOR UPDATE`.
    """
    if message.status != MessageStatus.SENDING:
        return False
    if message.lease_until is not None and message.lease_until > now:
        return False
    # The attempt that held the lease stopped without a word: it may have sent.
    message.maybe_sent = message.maybe_sent or message.lease_owner is not None
    message.lease_owner = owner
    return True


def still_holds(message: Message, *, owner: str, now: datetime) -> bool:
    """Whether this attempt's lease on the key is still running (nobody took it over)."""
    return message.lease_owner == owner and message.lease_until is not None and message.lease_until > now


def release(message: Message, *, reason: str, maybe_sent: bool, hold_until: datetime | None) -> None:
    """End an attempt that did not finish the key: no owner, and no new attempt before `hold_until`."""
    message.maybe_sent = message.maybe_sent or maybe_sent
    message.attempts += 1
    message.reason = f"attempt {message.attempts}: {reason}"
    message.lease_owner = None
    message.lease_until = hold_until


@dataclass(frozen=True)
class Accepted:
    """A key the provider took from this attempt, with what its activity event says."""

    message_id: int
    key: str
    provider_id: str
    contact_id: int | None
    subject: str
    template_id: int | None
    stream: str | None


_MESSAGES = cast(Table, Message.__table__)
_BODIES = cast(Table, MessageBody.__table__)
_EVENTS = cast(Table, ActivityEvent.__table__)
# What `mark_accepted` writes, for many rows in one executemany; the attempt is counted in SQL,
# so no row is read first.
_ACCEPT = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("accepted_id"))
    .values(
        status=MessageStatus.SENT,
        provider_message_id=bindparam("accepted_provider_id"),
        sent_at=bindparam("accepted_at"),
        reason=None,
        lease_owner=None,
        lease_until=None,
        attempts=_MESSAGES.c.attempts + 1,
    )
)


class Changes:
    """Keys ending in one transaction, their activity events kept to be written together."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._new: list[NewMessage] = []
        self._events: list[dict[str, Any]] = []

    def add(self, message: NewMessage) -> None:
        """A new key's row, written with the others when the changes are; until then it may change."""
        self._new.append(message)

    def close(
        self, message: LedgerRow, status: MessageStatus, reason: str, *, count: bool = False
    ) -> SendResult:
        """Record that the key ends suppressed or failed, with why, on the contact's stream too.

        `count` when this attempt called the provider for it.
        """
        message.attempts += 1 if count else 0
        message.status = status
        message.reason = reason
        message.lease_owner = message.lease_until = None
        if message.contact_id is not None:
            kind = "email.suppressed" if status == MessageStatus.SUPPRESSED else "email.failed"
            self._event(
                message, kind, {"message_id": message.id, "message_key": message.key, "reason": reason}
            )
        return result_of(message)

    def mark_found(self, message: Message, *, provider_id: str) -> SendResult:
        """Record that the provider already had the key, found by search: sent, by an earlier attempt."""
        message.status = MessageStatus.SENT
        message.provider_message_id = provider_id
        message.sent_at = utcnow()
        message.reason = None
        message.lease_owner = message.lease_until = None
        found = Accepted(
            message_id=message.id,
            key=message.key,
            provider_id=provider_id,
            contact_id=message.contact_id,
            subject=message.subject,
            template_id=message.template_id,
            stream=message.stream,
        )
        self._sent_event(found, at=message.sent_at, reconciled=True)
        return result_of(message)

    def mark_accepted(self, accepted: list[Accepted]) -> list[SendResult]:
        """Record the provider's acceptance of keys this attempt sent, without reading their rows.

        The common end of a batch: one UPDATE statement, run for every key, counts the attempt
        and marks it sent; the activity events carry what the caller has in hand.
        """
        if not accepted:
            return []
        now = utcnow()
        params = [
            {"accepted_id": a.message_id, "accepted_provider_id": a.provider_id, "accepted_at": now}
            for a in accepted
        ]
        self.session.execute(_ACCEPT, params)
        for a in accepted:
            self._sent_event(a, at=now, reconciled=False)
        return [
            SendResult(
                message_id=a.message_id,
                key=a.key,
                status=MessageStatus.SENT,
                reason=None,
                provider_message_id=a.provider_id,
            )
            for a in accepted
        ]

    def record_inactive(self, message: Message, error: RecipientInactive) -> SendResult:
        """The provider will not send to this recipient: suppress or unsubscribe as its reason says.

        Rare (Nurture's own list usually stops these first), so this one reads and writes per key.
        """
        inactive(self.session, message, error)
        return self.close(message, MessageStatus.SUPPRESSED, error.reason, count=True)

    def write(self) -> None:
        """Insert the new keys' rows and bodies, then the activity events: all of each in one statement."""
        if self._new:
            self.session.execute(insert(_MESSAGES), [message.row() for message in self._new])
            bodies = [body for body in (message.body_row() for message in self._new) if body is not None]
            if bodies:
                self.session.execute(insert(_BODIES), bodies)
            self._new.clear()
        if self._events:
            # On the table, not the entity: the ORM's bulk insert costs more than the rows.
            self.session.execute(insert(_EVENTS), self._events)
            self._events.clear()

    def _sent_event(self, sent: Accepted, *, at: datetime, reconciled: bool) -> None:
        if sent.contact_id is None:
            return
        data: dict[str, Any] = {
            "message_id": sent.message_id,
            "message_key": sent.key,
            "subject": sent.subject,
            "template_id": sent.template_id,
            "stream": sent.stream,
        }
        if reconciled:
            data["reconciled"] = True
        self._events.append(
            {"contact_id": sent.contact_id, "type": "email.sent", "data": data, "occurred_at": at}
        )

    def _event(self, message: LedgerRow, type: str, data: dict[str, Any]) -> None:
        # As record_activity would, without an ORM object (and its INSERT) per event.
        row = {"contact_id": message.contact_id, "type": type, "data": data, "occurred_at": utcnow()}
        self._events.append(row)


@contextmanager
def changes(session: Session) -> Iterator[Changes]:
    """Changes to keys in this session, their activity events written when the block ends."""
    batch = Changes(session)
    yield batch
    batch.write()


def inactive(session: Session, message: Message, error: RecipientInactive) -> None:
    """Suppress the address, or unsubscribe the contact, as the provider's reason says."""
    reason = INACTIVE_REASONS.get(error.why or "")
    if reason is None and message.kind == TemplateKind.TRANSACTIONAL:
        # Suppressed by hand on the transactional stream, or for a reason Postmark did not
        # give: keep transactional email from it too.
        manual = error.why == "ManualSuppression"
        reason = SuppressionReason.MANUAL if manual else SuppressionReason.HARD_BOUNCE
    if reason is not None:
        suppress_address(
            session,
            email=message.to_email,
            reason=reason,
            source="provider",
            details=f"{error.reason} (stream {message.stream}, {error.why or 'reason unknown'})",
            message_id=message.id,
        )
    else:
        # Unsubscribed on the broadcast stream (or unknown there): no more marketing, but
        # transactional email still goes.
        contact = get_contact(session, contact_id=message.contact_id) if message.contact_id else None
        if contact is not None:
            unsubscribe(session, contact=contact, list_id=None, source="postmark")
