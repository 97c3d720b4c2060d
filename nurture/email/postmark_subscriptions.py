"""Postmark SubscriptionChange: a suppression, an unsubscribe, or a reactivation of an address."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.crud.suppressions import get_suppression, lift_suppression
from nurture.crud.unsubscribe import unsubscribe
from nurture.db.models import Contact, EngagementType, Message, MessageEvent, SuppressionReason
from nurture.email.postmark_bounces import lifted_since, suppress_unmatched
from nurture.email.postmark_outcome import SOURCE, HandledEvent, Outcome, ignored, record
from nurture.email.postmark_payloads import SubscriptionChangeEvent
from nurture.email.postmark_reactivations import remember

# Postmark's SuppressionReason, lower-cased; its docs once spelled ManualSuppression with one "p".
POSTMARK_REASONS = {
    "hardbounce": SuppressionReason.HARD_BOUNCE,
    "spamcomplaint": SuppressionReason.SPAM_COMPLAINT,
    "manualsuppression": SuppressionReason.MANUAL,
    "manualsupression": SuppressionReason.MANUAL,
}
ENGAGEMENT_OF_SUPPRESSION = {
    SuppressionReason.HARD_BOUNCE: EngagementType.BOUNCED,
    SuppressionReason.SPAM_COMPLAINT: EngagementType.COMPLAINED,
}
# Suppressions Nurture learnt from Postmark (its webhooks, or a send it refused): Postmark may lift
# them. One an operator added through the API ("api") stays until an operator removes it.
FROM_POSTMARK = {SOURCE, "provider"}


def handle_subscription_change(
    session: Session, event: SubscriptionChangeEvent, message: Message | None, key: str
) -> HandledEvent:
    """Suppress, unsubscribe or reactivate `Recipient` as Postmark did on its side."""
    reason = POSTMARK_REASONS.get((event.suppression_reason or "").strip().lower())
    if reason is None:
        return ignored(event, f"unknown SuppressionReason {event.suppression_reason!r}")
    if not event.suppress_sending:
        return _reactivate(session, event, reason)
    if reason == SuppressionReason.MANUAL:
        return _unsubscribe(session, event, message, key)
    data = {"suppression_reason": event.suppression_reason, "origin": event.origin}
    lifted = lifted_since(
        session, event, message, key, email=event.recipient, reason=reason, moment=event.changed_at, data=data
    )
    if lifted is not None:
        return lifted
    if message is None:
        return suppress_unmatched(session, event, email=event.recipient, reason=reason)
    type = ENGAGEMENT_OF_SUPPRESSION[reason]
    already = session.scalar(
        select(MessageEvent.id).where(MessageEvent.message_id == message.id, MessageEvent.type == type)
    )
    if already is not None:
        # Postmark sends the Bounce (or SpamComplaint) too; the message records it once.
        detail = f"{type.value} already recorded on message {message.id}; {event.recipient} suppressed"
        return suppress_unmatched(
            session, event, email=event.recipient, reason=reason, message=message, detail=detail
        )
    return record(
        session,
        event,
        message=message,
        key=key,
        type=type,
        occurred_at=event.changed_at,
        data=data,
        suppression=reason,
    )


def _reactivate(session: Session, event: SubscriptionChangeEvent, reason: SuppressionReason) -> HandledEvent:
    # Kept whatever is lifted now: the bounce it answers may be handled later.
    remember(session, email=event.recipient, reason=reason, changed_at=event.changed_at)
    row = get_suppression(session, email=event.recipient)
    if row is None or row.reason != reason:
        detail = f"{event.recipient} has no {reason.value} suppression to lift; the reactivation is kept"
        return ignored(event, detail)
    if row.source not in FROM_POSTMARK:
        detail = f"the suppression of {event.recipient} came from {row.source!r}, not from Postmark: kept"
        return ignored(event, detail)
    lift_suppression(session, suppression=row, source=SOURCE)
    detail = f"Postmark reactivated {event.recipient}; its {reason.value} suppression was lifted"
    return HandledEvent(event.record_type, Outcome.UNSUPPRESSED, detail)


def _unsubscribe(
    session: Session, event: SubscriptionChangeEvent, message: Message | None, key: str
) -> HandledEvent:
    handled = record(
        session,
        event,
        message=message,
        key=key,
        type=EngagementType.UNSUBSCRIBED,
        occurred_at=event.changed_at,
        data={"suppression_reason": event.suppression_reason, "origin": event.origin},
    )
    contact = session.get(Contact, message.contact_id) if message and message.contact_id is not None else None
    if handled.event is not None and contact is not None:
        # Postmark's own unsubscribe covers the whole stream, not one list: leave all marketing email.
        unsubscribe(session, contact=contact, list_id=None, source=SOURCE)
    return handled
