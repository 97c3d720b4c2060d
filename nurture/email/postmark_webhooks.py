"""Turn one Postmark webhook into engagement on the message it concerns, once, with its suppressions."""

import enum
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.crud.contacts import get_contact_by_email
from nurture.crud.engagement import record_engagement
from nurture.crud.messages import get_message_by_key, get_message_by_provider_id
from nurture.crud.suppressions import CONTACT_STATUS, get_suppression, suppress, unsuppress
from nurture.crud.unsubscribe import unsubscribe
from nurture.db.models import (
    Contact,
    ContactStatus,
    EngagementType,
    Message,
    MessageEvent,
    Suppression,
    SuppressionReason,
)
from nurture.email.postmark_payloads import (
    AnyPostmarkEvent,
    BounceEvent,
    ClickEvent,
    DeliveryEvent,
    OpenEvent,
    SpamComplaintEvent,
    SubscriptionChangeEvent,
    parse_postmark_event,
)
from nurture.schemas.email import METADATA_KEY
from nurture.tracking.machine import machine_reason

log = logging.getLogger(__name__)

SOURCE = "postmark"
# message_events.dedup_key is a String(255); longer keys (long links) are hashed.
MAX_DEDUP_KEY = 255

# Bounce types that mean the address is gone for good; any bounce with Inactive true too.
HARD_BOUNCES = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated"}
# Not bounces at all: out-of-office replies, relay probes, challenge-response systems.
IGNORED_BOUNCES = {"AutoResponder", "OpenRelayTest", "ChallengeVerification"}
# Our domain's authentication or reputation is at fault, not the address: an operator must act.
ALERT_BOUNCES = {"Blocked", "DMARCPolicy"}

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


class Outcome(enum.StrEnum):
    """What handling a webhook did."""

    RECORDED = "recorded"  # an event was recorded on the message (and any suppression applied)
    REPEAT = "repeat"  # the very same event was recorded before: nothing done
    SUPPRESSED = "suppressed"  # no event recorded, but the address was suppressed
    UNSUPPRESSED = "unsuppressed"  # Postmark reactivated the address and our suppression was lifted
    IGNORED = "ignored"  # acknowledged, nothing written


@dataclass
class HandledEvent:
    """The result of one webhook: what was done, and why, in words an operator can read."""

    record_type: str
    outcome: Outcome
    detail: str
    type: EngagementType | None = None
    message: Message | None = None
    event: MessageEvent | None = None
    suppression: Suppression | None = None

    @property
    def recorded(self) -> bool:
        """Whether a new event row was written."""
        return self.event is not None

    @property
    def repeat(self) -> bool:
        """Whether this was a retry of an event already recorded."""
        return self.outcome == Outcome.REPEAT


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
            parts = [event.message_id or event.recipient.lower(), event.changed_at.isoformat()]
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


def handle_postmark_event(session: Session, payload: dict[str, Any]) -> HandledEvent:
    """Record one Postmark webhook on the message it concerns; the caller commits.

    Raises:
        PostmarkPayloadError: the payload is not a Postmark event (unknown RecordType, missing
            field); nothing is written.
    """
    event = parse_postmark_event(payload)
    message = find_message(session, event)
    key = dedup_key(event)
    if message is not None:
        earlier = session.scalar(select(MessageEvent).where(MessageEvent.dedup_key == key))
        if earlier is not None:
            detail = f"already recorded as event {earlier.id}"
            return HandledEvent(event.record_type, Outcome.REPEAT, detail, type=earlier.type, message=message)
    match event:
        case DeliveryEvent():
            return _record(
                session,
                event,
                message,
                key,
                EngagementType.DELIVERED,
                event.delivered_at,
                data={"details": event.details},
            )
        case BounceEvent():
            return _bounce(session, event, message, key)
        case SpamComplaintEvent():
            return _complaint(session, event, message, key)
        case ClickEvent():
            return _record(
                session,
                event,
                message,
                key,
                EngagementType.CLICKED,
                event.received_at,
                url=event.original_link,
                machine=_machine(event, message, kind="click"),
                data=_client_data(event) | {"click_location": event.click_location},
            )
        case OpenEvent():
            return _record(
                session,
                event,
                message,
                key,
                EngagementType.OPENED,
                event.received_at,
                machine=_machine(event, message, kind="open"),
                data=_client_data(event) | {"first_open": event.first_open},
            )
        case SubscriptionChangeEvent():
            return _subscription_change(session, event, message, key)


def _record(
    session: Session,
    event: AnyPostmarkEvent,
    message: Message | None,
    key: str,
    type: EngagementType,
    occurred_at: datetime,
    *,
    url: str | None = None,
    machine: str | None = None,
    data: dict[str, Any] | None = None,
    suppression: SuppressionReason | None = None,
) -> HandledEvent:
    if message is None:
        return _unknown(event)
    row = record_engagement(
        session,
        message=message,
        type=type,
        source=SOURCE,
        occurred_at=occurred_at,
        url=url,
        machine_reason=machine,
        data={k: v for k, v in (data or {}).items() if v is not None},
        dedup_key=key,
        suppression=suppression,
    )
    if row is None:
        return HandledEvent(event.record_type, Outcome.REPEAT, f"already recorded as {key}", type, message)
    detail = f"recorded {type.value} on message {message.id}"
    if suppression is not None:
        detail += f"; {message.to_email} suppressed ({suppression.value})"
    return HandledEvent(
        event.record_type,
        Outcome.RECORDED,
        detail,
        type,
        message,
        row,
        get_suppression(session, email=message.to_email) if suppression is not None else None,
    )


def _unknown(event: AnyPostmarkEvent) -> HandledEvent:
    return HandledEvent(event.record_type, Outcome.IGNORED, "no message of Nurture's matches this event")


def _bounce_data(event: BounceEvent | SpamComplaintEvent) -> dict[str, Any]:
    return {
        "postmark_id": event.id,
        "bounce_type": event.type,
        "type_code": event.type_code,
        "description": event.description,
        "details": event.details,
        "inactive": event.inactive,
    }


def _bounce(session: Session, event: BounceEvent, message: Message | None, key: str) -> HandledEvent:
    hard = event.inactive or event.type in HARD_BOUNCES
    if not hard and event.type in IGNORED_BOUNCES:
        return HandledEvent(event.record_type, Outcome.IGNORED, f"{event.type} is not a bounce")
    if event.type in ALERT_BOUNCES:
        log.warning(
            "Postmark reports a %s bounce (%s): check the sending domain's authentication and reputation",
            event.type,
            event.description,
        )
    if message is None:
        if not hard:
            return _unknown(event)
        # Postmark already refuses this address; Nurture must stop trying too.
        return _suppress_unknown(session, event, email=event.email, reason=SuppressionReason.HARD_BOUNCE)
    data = _bounce_data(event) | {"bounce": "hard" if hard else "soft"}
    suppression = SuppressionReason.HARD_BOUNCE if hard else None
    return _record(
        session,
        event,
        message,
        key,
        EngagementType.BOUNCED,
        event.bounced_at,
        data=data,
        suppression=suppression,
    )


def _complaint(
    session: Session, event: SpamComplaintEvent, message: Message | None, key: str
) -> HandledEvent:
    if message is None:
        return _suppress_unknown(session, event, email=event.email, reason=SuppressionReason.SPAM_COMPLAINT)
    return _record(
        session,
        event,
        message,
        key,
        EngagementType.COMPLAINED,
        event.bounced_at,
        data=_bounce_data(event),
        suppression=SuppressionReason.SPAM_COMPLAINT,
    )


def _suppress_address(
    session: Session, *, email: str, reason: SuppressionReason, details: str | None, message_id: int | None
) -> Suppression:
    row = suppress(session, email=email, reason=reason, source=SOURCE, details=details, message_id=message_id)
    contact = get_contact_by_email(session, email=email)
    if contact is not None and reason in CONTACT_STATUS:
        contact.status = CONTACT_STATUS[reason]
    return row


def _details(event: AnyPostmarkEvent) -> str:
    # What an operator reads on the suppression list: Postmark's own words where it gives them.
    if isinstance(event, BounceEvent | SpamComplaintEvent):
        return f"Postmark {event.type}: {event.description or event.details or ''}".rstrip(": ")
    if isinstance(event, SubscriptionChangeEvent):
        return f"Postmark suppressed the address ({event.suppression_reason}, origin {event.origin})"
    return f"Postmark {event.record_type}"


def _suppress_unknown(
    session: Session, event: AnyPostmarkEvent, *, email: str, reason: SuppressionReason
) -> HandledEvent:
    row = _suppress_address(session, email=email, reason=reason, details=_details(event), message_id=None)
    detail = f"no message of Nurture's matches this event; {email} suppressed ({row.reason.value})"
    return HandledEvent(event.record_type, Outcome.SUPPRESSED, detail, suppression=row)


def _subscription_change(
    session: Session, event: SubscriptionChangeEvent, message: Message | None, key: str
) -> HandledEvent:
    reason = POSTMARK_REASONS.get((event.suppression_reason or "").strip().lower())
    if reason is None:
        detail = f"unknown SuppressionReason {event.suppression_reason!r}"
        return HandledEvent(event.record_type, Outcome.IGNORED, detail)
    if not event.suppress_sending:
        return _reactivate(session, event, reason)
    if reason == SuppressionReason.MANUAL:
        return _unsubscribe(session, event, message, key)
    if message is None:
        return _suppress_unknown(session, event, email=event.recipient, reason=reason)
    type = ENGAGEMENT_OF_SUPPRESSION[reason]
    already = session.scalar(
        select(MessageEvent.id).where(MessageEvent.message_id == message.id, MessageEvent.type == type)
    )
    if already is not None:
        # Postmark sends the Bounce (or SpamComplaint) too; the message records it once.
        row = _suppress_address(
            session, email=event.recipient, reason=reason, details=_details(event), message_id=message.id
        )
        detail = f"{type.value} already recorded on message {message.id}; {event.recipient} suppressed"
        return HandledEvent(event.record_type, Outcome.SUPPRESSED, detail, message=message, suppression=row)
    data = {"suppression_reason": event.suppression_reason, "origin": event.origin}
    return _record(session, event, message, key, type, event.changed_at, data=data, suppression=reason)


def _reactivate(session: Session, event: SubscriptionChangeEvent, reason: SuppressionReason) -> HandledEvent:
    row = get_suppression(session, email=event.recipient)
    if row is None or row.reason != reason:
        detail = f"{event.recipient} has no {reason.value} suppression to lift"
        return HandledEvent(event.record_type, Outcome.IGNORED, detail)
    unsuppress(session, suppression=row)
    contact = get_contact_by_email(session, email=event.recipient)
    # The standing the suppression gave the contact goes with it; an unsubscribe stays.
    if contact is not None and reason in CONTACT_STATUS and contact.status == CONTACT_STATUS[reason]:
        contact.status = ContactStatus.ACTIVE
    detail = f"Postmark reactivated {event.recipient}; its {reason.value} suppression was lifted"
    return HandledEvent(event.record_type, Outcome.UNSUPPRESSED, detail)


def _unsubscribe(
    session: Session, event: SubscriptionChangeEvent, message: Message | None, key: str
) -> HandledEvent:
    handled = _record(
        session,
        event,
        message,
        key,
        EngagementType.UNSUBSCRIBED,
        event.changed_at,
        data={"suppression_reason": event.suppression_reason, "origin": event.origin},
    )
    contact = session.get(Contact, message.contact_id) if message and message.contact_id is not None else None
    if handled.event is not None and contact is not None:
        # Postmark's own unsubscribe covers the whole stream, not one list: leave all marketing email.
        unsubscribe(session, contact=contact, list_id=None, source=SOURCE)
    return handled


def _machine(
    event: OpenEvent | ClickEvent, message: Message | None, *, kind: Literal["open", "click"]
) -> str | None:
    seconds = None
    if message is not None and message.sent_at is not None:
        seconds = (event.received_at - message.sent_at).total_seconds()
        # Postmark's clock and ours differ; a negative gap says nothing about the reader.
        seconds = seconds if seconds >= 0 else None
    ip = event.geo.ip if event.geo is not None else None
    return machine_reason(kind=kind, user_agent=event.user_agent, ip=ip, seconds_since_sent=seconds)


def _client_data(event: OpenEvent | ClickEvent) -> dict[str, Any]:
    # The address and coordinates are personal data Nurture has no use for; the country is enough.
    return {
        "platform": event.platform,
        "user_agent": event.user_agent,
        "client": event.client.name if event.client else None,
        "os": event.os.name if event.os else None,
        "country": event.geo.country if event.geo else None,
    }
