"""Postmark bounces and spam complaints: which ones suppress the address, and how they are recorded."""

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.crud.suppressions import suppress_address
from nurture.db.models import EngagementType, Message, MessageEvent, SuppressionReason
from nurture.email.postmark_outcome import SOURCE, HandledEvent, Outcome, ignored, record, unmatched
from nurture.email.postmark_payloads import (
    AnyPostmarkEvent,
    BounceEvent,
    SpamComplaintEvent,
    SubscriptionChangeEvent,
)
from nurture.email.postmark_reactivations import reactivated_since

log = logging.getLogger(__name__)

# Bounce types that mean the address is gone for good; any bounce with Inactive true too.
HARD_BOUNCES = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated"}
# Not bounces at all: out-of-office replies, relay probes, challenge-response systems.
IGNORED_BOUNCES = {"AutoResponder", "OpenRelayTest", "ChallengeVerification"}
# The dedup keys of events a SubscriptionChange recorded (nurture.email.postmark_lookup.dedup_key).
SUBSCRIPTION_CHANGE_KEY = "postmark:SubscriptionChange:"
# Our domain's authentication or reputation is at fault, not the address: an operator must act.
ALERT_BOUNCES = {"Blocked", "DMARCPolicy"}


def handle_bounce(session: Session, event: BounceEvent, message: Message | None, key: str) -> HandledEvent:
    """Record a bounce; a hard one (or one that made Postmark deactivate the address) suppresses it.

    A hard bounce of a message Nurture does not know still suppresses the address, since Postmark
    will refuse it from now on.
    """
    hard = event.inactive or event.type in HARD_BOUNCES
    if not hard and event.type in IGNORED_BOUNCES:
        return ignored(event, f"{event.type} is not a bounce")
    if event.type in ALERT_BOUNCES:
        log.warning(
            "Postmark reports a %s bounce (%s): check the sending domain's authentication and reputation",
            event.type,
            event.description,
        )
    if hard:
        lifted = lifted_since(
            session,
            event,
            message,
            key,
            email=event.email,
            reason=SuppressionReason.HARD_BOUNCE,
            moment=event.bounced_at,
            data=_bounce_data(event) | {"bounce": "hard"},
        )
        if lifted is not None:
            return lifted
    if message is None:
        if not hard:
            return unmatched(event)
        return suppress_unmatched(session, event, email=event.email, reason=SuppressionReason.HARD_BOUNCE)
    data = _bounce_data(event) | {"bounce": "hard" if hard else "soft"}
    if hard:
        told = _told_by_subscription_change(session, message, EngagementType.BOUNCED)
        if told is not None:
            return _complete(session, event, message, told, data, reason=SuppressionReason.HARD_BOUNCE)
    return record(
        session,
        event,
        message=message,
        key=key,
        type=EngagementType.BOUNCED,
        occurred_at=event.bounced_at,
        data=data,
        suppression=SuppressionReason.HARD_BOUNCE if hard else None,
    )


def handle_complaint(
    session: Session, event: SpamComplaintEvent, message: Message | None, key: str
) -> HandledEvent:
    """Record a spam complaint and suppress the address for marketing email."""
    lifted = lifted_since(
        session,
        event,
        message,
        key,
        email=event.email,
        reason=SuppressionReason.SPAM_COMPLAINT,
        moment=event.bounced_at,
        data=_bounce_data(event),
    )
    if lifted is not None:
        return lifted
    if message is None:
        return suppress_unmatched(session, event, email=event.email, reason=SuppressionReason.SPAM_COMPLAINT)
    told = _told_by_subscription_change(session, message, EngagementType.COMPLAINED)
    if told is not None:
        return _complete(
            session, event, message, told, _bounce_data(event), reason=SuppressionReason.SPAM_COMPLAINT
        )
    return record(
        session,
        event,
        message=message,
        key=key,
        type=EngagementType.COMPLAINED,
        occurred_at=event.bounced_at,
        data=_bounce_data(event),
        suppression=SuppressionReason.SPAM_COMPLAINT,
    )


def lifted_since(
    session: Session,
    event: AnyPostmarkEvent,
    message: Message | None,
    key: str,
    *,
    email: str,
    reason: SuppressionReason,
    moment: datetime,
    data: dict[str, Any],
) -> HandledEvent | None:
    """A bounce or complaint (at `moment`) that Postmark has reactivated the address since: recorded
    on its message once, and the address left unsuppressed. None when there is no such reactivation.
    """
    reactivated = reactivated_since(session, email=email, reason=reason, moment=moment)
    if reactivated is None:
        return None
    detail = f"Postmark reactivated {email} at {reactivated.isoformat()}, after this: not suppressed"
    if message is None:
        return ignored(event, detail)
    type = EngagementType.BOUNCED if reason == SuppressionReason.HARD_BOUNCE else EngagementType.COMPLAINED
    already = session.scalar(
        select(MessageEvent.id).where(MessageEvent.message_id == message.id, MessageEvent.type == type)
    )
    if already is not None:
        return ignored(event, f"{type.value} already recorded on message {message.id}; {detail}")
    data = data | {"reactivated_at": reactivated.isoformat()}
    handled = record(session, event, message=message, key=key, type=type, occurred_at=moment, data=data)
    return replace(handled, detail=f"{handled.detail}; {detail}")


def _told_by_subscription_change(
    session: Session, message: Message, type: EngagementType
) -> MessageEvent | None:
    """The bounce or complaint Postmark's SubscriptionChange recorded on the message before this
    webhook, which reports the same thing, arrived (webhooks come in any order)."""
    return session.scalar(
        select(MessageEvent).where(
            MessageEvent.message_id == message.id,
            MessageEvent.type == type,
            MessageEvent.dedup_key.startswith(SUBSCRIPTION_CHANGE_KEY),
        )
    )


def _complete(
    session: Session,
    event: BounceEvent | SpamComplaintEvent,
    message: Message,
    told: MessageEvent,
    data: dict[str, Any],
    *,
    reason: SuppressionReason,
) -> HandledEvent:
    """Add this webhook's details to the event its SubscriptionChange recorded, instead of recording
    the same bounce or complaint twice; the address is suppressed all the same."""
    told.data = {**told.data, **{k: v for k, v in data.items() if v is not None}}
    detail = (
        f"{told.type.value} already recorded on message {message.id} from Postmark's SubscriptionChange; "
        f"details added; {event.email} suppressed"
    )
    return suppress_unmatched(
        session, event, email=event.email, reason=reason, message=message, detail=detail
    )


def suppress_unmatched(
    session: Session,
    event: AnyPostmarkEvent,
    *,
    email: str,
    reason: SuppressionReason,
    message: Message | None = None,
    detail: str | None = None,
) -> HandledEvent:
    """Suppress an address (and set its contact's status) without recording an event on a message."""
    row = suppress_address(
        session,
        email=email,
        reason=reason,
        source=SOURCE,
        details=suppression_details(event),
        message_id=message.id if message is not None else None,
    )
    detail = detail or f"no message of Nurture's matches this event; {email} suppressed ({row.reason.value})"
    return HandledEvent(event.record_type, Outcome.SUPPRESSED, detail, message=message, suppression=row)


def suppression_details(event: AnyPostmarkEvent) -> str:
    """What an operator reads on the suppression list: Postmark's own words where it gives them."""
    if isinstance(event, BounceEvent | SpamComplaintEvent):
        return f"Postmark {event.type}: {event.description or event.details or ''}".rstrip(": ")
    if isinstance(event, SubscriptionChangeEvent):
        return f"Postmark suppressed the address ({event.suppression_reason}, origin {event.origin})"
    return f"Postmark {event.record_type}"


def _bounce_data(event: BounceEvent | SpamComplaintEvent) -> dict[str, Any]:
    return {
        "postmark_id": event.id,
        "bounce_type": event.type,
        "type_code": event.type_code,
        "description": event.description,
        "details": event.details,
        "inactive": event.inactive,
    }
