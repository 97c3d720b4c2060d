"""Turn one Postmark webhook into engagement on the message it concerns, once, with its suppressions."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.db.models import EngagementType, Message, MessageEvent
from nurture.email.postmark_bounces import handle_bounce, handle_complaint
from nurture.email.postmark_lookup import dedup_key, find_message
from nurture.email.postmark_outcome import HandledEvent, Outcome, record
from nurture.email.postmark_payloads import (
    BounceEvent,
    ClickEvent,
    DeliveryEvent,
    OpenEvent,
    SpamComplaintEvent,
    SubscriptionChangeEvent,
    parse_postmark_event,
)
from nurture.email.postmark_subscriptions import handle_subscription_change
from nurture.email.postmark_tracking import handle_click, handle_open
from nurture.settings import Settings

__all__ = ["HandledEvent", "Outcome", "dedup_key", "find_message", "handle_postmark_event"]


def handle_postmark_event(session: Session, payload: dict[str, Any], *, settings: Settings) -> HandledEvent:
    """Record one Postmark webhook on the message it concerns; the caller commits.

    Args:
        session: The caller's session; nothing is committed here.
        payload: The webhook body as Postmark posted it.
        settings: Where Nurture's own click URLs live and the keys that sign them, to record the
            real target of a click on one of them.

    Raises:
        PostmarkPayloadError: the payload is not a Postmark event (unknown RecordType, missing or
            invalid field); nothing is written.
    """
    event = parse_postmark_event(payload)
    message = find_message(session, event)
    key = dedup_key(event)
    if message is not None:
        # One message's webhooks one at a time: Postmark reports a bounce twice (the Bounce and its
        # SubscriptionChange), and whichever is handled second must see the first's event.
        session.execute(select(Message.id).where(Message.id == message.id).with_for_update())
        earlier = session.scalar(select(MessageEvent).where(MessageEvent.dedup_key == key))
        if earlier is not None:
            detail = f"already recorded as event {earlier.id}"
            return HandledEvent(event.record_type, Outcome.REPEAT, detail, type=earlier.type, message=message)
    match event:
        case DeliveryEvent():
            return record(
                session,
                event,
                message=message,
                key=key,
                type=EngagementType.DELIVERED,
                occurred_at=event.delivered_at,
                data={"details": event.details},
            )
        case BounceEvent():
            return handle_bounce(session, event, message, key)
        case SpamComplaintEvent():
            return handle_complaint(session, event, message, key)
        case ClickEvent():
            return handle_click(session, event, message, key, settings=settings)
        case OpenEvent():
            return handle_open(session, event, message, key)
        case SubscriptionChangeEvent():
            return handle_subscription_change(session, event, message, key)
