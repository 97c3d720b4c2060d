"""Which message a Postmark webhook is about, and the key that makes Postmark's retries a no-op."""

import hashlib

from sqlalchemy.orm import Session

from nurture.crud.messages import get_message_by_key, get_message_by_provider_id
from nurture.db.models import Message
from nurture.email.postmark_payloads import (
    AnyPostmarkEvent,
    BounceEvent,
    ClickEvent,
    DeliveryEvent,
    OpenEvent,
    SpamComplaintEvent,
    SubscriptionChangeEvent,
)
from nurture.schemas.email import METADATA_KEY

# message_events.dedup_key is a String(255); longer keys (long links) are hashed.
MAX_DEDUP_KEY = 255


def dedup_key(event: AnyPostmarkEvent) -> str:
    """The key that makes Postmark's retries of the same payload a no-op.

    Only bounces and complaints carry an ID; the others are told apart by message, recipient,
    time and (for clicks) link, since one message is opened and clicked many times.
    """
    match event:
        case BounceEvent() | SpamComplaintEvent():
            parts: list[object] = [event.id]
        case DeliveryEvent():
            parts = [event.message_id, event.recipient.lower()]
        case ClickEvent():
            parts = [
                event.message_id,
                event.recipient.lower(),
                event.received_at.isoformat(),
                event.original_link,
            ]
        case OpenEvent():
            parts = [event.message_id, event.recipient.lower(), event.received_at.isoformat()]
        case SubscriptionChangeEvent():
            parts = [event.message_id or event.recipient, event.changed_at.isoformat()]
    prefix = f"postmark:{event.record_type}"
    key = ":".join([prefix, *map(str, parts)])
    if len(key) > MAX_DEDUP_KEY:
        key = f"{prefix}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def find_message(session: Session, event: AnyPostmarkEvent) -> Message | None:
    """The message a webhook is about: by the key Nurture put in Metadata, then by Postmark's MessageID."""
    key = event.metadata.get(METADATA_KEY)
    if isinstance(key, str) and key:
        message = get_message_by_key(session, key=key)
        if message is not None:
            return message
    if event.message_id:
        return get_message_by_provider_id(session, provider_message_id=event.message_id)
    return None
