"""The send ledger's state changes for many keys in one transaction: leases taken, and how attempts end.

Written together: nothing flushes per key, and the activity events that go with the changes are
inserted in one statement when the batch's changes are written, instead of two statements per key.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from nurture.crud.contacts import get_contact
from nurture.crud.suppressions import suppress_address
from nurture.crud.unsubscribe import unsubscribe
from nurture.db.base import utcnow
from nurture.db.models import ActivityEvent, Message, SuppressionReason
from nurture.email.outgoing import RecipientInactive
from nurture.schemas.email import MessageStatus, SendResult, TemplateKind


def result_of(message: Message) -> SendResult:
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


class Changes:
    """Keys ending in one transaction, their activity events kept to be written together."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._events: list[dict[str, Any]] = []

    def close(
        self, message: Message, status: MessageStatus, reason: str, *, count: bool = False
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

    def mark_sent(self, message: Message, *, provider_id: str, reconciled: bool) -> SendResult:
        """Record the provider's acceptance; `reconciled` when found by search, not by this attempt."""
        message.status = MessageStatus.SENT
        message.provider_message_id = provider_id
        message.sent_at = utcnow()
        message.reason = None
        message.lease_owner = message.lease_until = None
        if not reconciled:
            message.attempts += 1
        if message.contact_id is not None:
            data: dict[str, object] = {
                "message_id": message.id,
                "message_key": message.key,
                "subject": message.subject,
                "template_id": message.template_id,
                "stream": message.stream,
            }
            if reconciled:
                data["reconciled"] = True
            self._event(message, "email.sent", data)
        return result_of(message)

    def record_inactive(self, message: Message, error: RecipientInactive) -> SendResult:
        """The provider will not send to this recipient: suppress or unsubscribe as its reason says.

        Rare (Nurture's own list usually stops these first), so this one reads and writes per key.
        """
        inactive(self.session, message, error)
        return self.close(message, MessageStatus.SUPPRESSED, error.reason, count=True)

    def write(self) -> None:
        """Insert the activity events, all in one statement."""
        if self._events:
            self.session.execute(insert(ActivityEvent), self._events)
            self._events.clear()

    def _event(self, message: Message, type: str, data: dict[str, Any]) -> None:
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
