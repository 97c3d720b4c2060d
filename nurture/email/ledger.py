"""The ledger's state changes for one message key: leases, and how an attempt ends."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from nurture.crud.activity import record_activity
from nurture.db.base import utcnow
from nurture.db.models import Message
from nurture.schemas.email import MessageStatus, SendResult


@dataclass(frozen=True)
class Claim:
    """An attempt's right to call the provider for a key until the lease ends."""

    owner: str
    # Whether the provider may already have this key: it must be asked before sending.
    maybe_sent: bool


def result_of(message: Message) -> SendResult:
    """What the ledger says became of a message."""
    return SendResult(
        message_id=message.id,
        key=message.key,
        status=message.status,
        reason=message.reason,
        provider_message_id=message.provider_message_id,
    )


def claim(session: Session, *, message_id: int, owner: str, until: datetime) -> Claim | None:
    """Take the lease of a `sending` key, unless another attempt holds it or it is held back."""
    message = session.get(Message, message_id, with_for_update=True)
    if message is None or message.status != MessageStatus.SENDING:
        return None
    now = utcnow()
    if message.lease_until is not None and message.lease_until > now:
        return None
    took_over = message.lease_owner is not None
    message.lease_owner, message.lease_until = owner, until
    # The attempt that held the lease stopped without a word: it may have sent.
    message.maybe_sent = message.maybe_sent or took_over
    session.flush()
    return Claim(owner=owner, maybe_sent=message.maybe_sent)


def extend(session: Session, *, message_id: int, owner: str, until: datetime) -> bool:
    """Extend a lease this attempt still holds; False if it has run out or passed to another."""
    message = session.get(Message, message_id, with_for_update=True)
    if message is None or message.lease_owner != owner or message.lease_until is None:
        return False
    if message.lease_until <= utcnow():
        return False
    message.lease_until = until
    session.flush()
    return True


def release(
    session: Session, message: Message, *, reason: str, maybe_sent: bool, hold_until: datetime | None = None
) -> None:
    """End an attempt that did not finish the key: no owner, and no new attempt before `hold_until`."""
    message.maybe_sent = message.maybe_sent or maybe_sent
    message.attempts += 1
    message.reason = f"attempt {message.attempts}: {reason}"
    message.lease_owner = None
    message.lease_until = hold_until
    session.flush()


def close(session: Session, message: Message, status: MessageStatus, reason: str) -> SendResult:
    """Record that the key ends suppressed or failed, with why, on the contact's stream too."""
    message.status = status
    message.reason = reason
    message.lease_owner = message.lease_until = None
    if message.contact_id is not None:
        record_activity(
            session,
            contact_id=message.contact_id,
            type="email.suppressed" if status == MessageStatus.SUPPRESSED else "email.failed",
            data={"message_id": message.id, "message_key": message.key, "reason": reason},
        )
    session.flush()
    return result_of(message)


def mark_sent(session: Session, message: Message, *, provider_id: str, reconciled: bool) -> SendResult:
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
        record_activity(session, contact_id=message.contact_id, type="email.sent", data=data)
    session.flush()
    return result_of(message)
