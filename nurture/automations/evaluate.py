"""Evaluate conditions and exits for a contact against the database, as of a moment a run gives."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.automations.conditions import (
    AllOf,
    AnyOf,
    Condition,
    EmailEngaged,
    EventSeen,
    FieldIs,
    HasTag,
    Not,
    OnList,
)
from nurture.automations.definition import Exit, ExitOnEvent, ExitOnLeavingList, ExitOnTag, ExitOnUnsubscribe
from nurture.automations.durations import parse_duration
from nurture.automations.runs import SentEmail
from nurture.db.models import (
    Contact,
    ContactEvent,
    ContactStatus,
    ListSubscription,
    MessageEvent,
    SubscriptionStatus,
)

BUILT_IN = ("email", "first_name", "last_name", "phone", "timezone", "status", "owner_id", "account_id")


@dataclass(frozen=True)
class Moment:
    """When a condition is evaluated, from when the run started, and what it has sent."""

    now: datetime
    started_at: datetime
    sends: dict[str, SentEmail]


def field_value(contact: Contact, field: str) -> Any:
    """A built-in field's value, or a custom field's (None when absent)."""
    if field in BUILT_IN:
        value = getattr(contact, field)
        return value.value if isinstance(value, ContactStatus) else value
    return (contact.custom_fields or {}).get(field)


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "exists":
        return actual is not None
    if op == "missing":
        return actual is None
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op == "in":
        return isinstance(expected, list) and actual in expected
    if op == "contains":
        return isinstance(actual, str) and isinstance(expected, str) and expected.lower() in actual.lower()
    try:
        if op == "gt":
            return bool(actual > expected)
        if op == "gte":
            return bool(actual >= expected)
        if op == "lt":
            return bool(actual < expected)
        if op == "lte":
            return bool(actual <= expected)
    except TypeError:
        return False  # a number compared with text, or a missing value: not met
    raise ValueError(f"unknown operator {op}")


def _event_seen(session: Session, contact: Contact, rule: EventSeen, *, since: datetime | None) -> bool:
    query = select(ContactEvent.properties).where(
        ContactEvent.contact_id == contact.id, ContactEvent.name == rule.name
    )
    if since is not None:
        query = query.where(ContactEvent.occurred_at >= since)
    for properties in session.scalars(query):
        if all((properties or {}).get(k) == v for k, v in rule.properties.items()):
            return True
    return False


def _engaged(session: Session, rule: EmailEngaged, moment: Moment) -> bool:
    sent = moment.sends.get(rule.step)
    if sent is None or sent.message_id is None:
        return False
    query = select(MessageEvent).where(
        MessageEvent.message_id == sent.message_id, MessageEvent.type == rule.did
    )
    if not rule.include_machine:
        query = query.where(MessageEvent.machine.is_(False))
    if rule.link is not None:
        query = query.where(MessageEvent.url == rule.link)
    if rule.within is not None:
        query = query.where(MessageEvent.occurred_at <= sent.sent_at + parse_duration(rule.within))
    return session.scalar(query.limit(1)) is not None


def holds(session: Session, *, contact: Contact, condition: Condition, moment: Moment) -> bool:
    """Whether the condition holds for the contact at this moment."""
    match condition:
        case FieldIs():
            return _compare(condition.op, field_value(contact, condition.field), condition.value)
        case HasTag():
            has = any(tag.name.lower() == condition.tag.lower() for tag in contact.tags)
            return has == condition.present
        case OnList():
            subscribed = any(
                s.list_id == condition.list_id and s.status == SubscriptionStatus.SUBSCRIBED
                for s in contact.subscriptions
            )
            return subscribed == condition.subscribed
        case EventSeen():
            since = moment.now - parse_duration(condition.within) if condition.within else None
            return _event_seen(session, contact, condition, since=since)
        case EmailEngaged():
            return _engaged(session, condition, moment)
        case AllOf():
            return all(
                holds(session, contact=contact, condition=c, moment=moment) for c in condition.conditions
            )
        case AnyOf():
            return any(
                holds(session, contact=contact, condition=c, moment=moment) for c in condition.conditions
            )
        case Not():
            return not holds(session, contact=contact, condition=condition.condition, moment=moment)
    raise ValueError(f"unknown condition {condition!r}")


def exit_reason(session: Session, *, contact: Contact, exits: list[Exit], moment: Moment) -> str | None:
    """Why the run must end now, by the first exit condition that holds; None if none does."""
    for rule in exits:
        match rule:
            case ExitOnEvent():
                if _event_seen(
                    session, contact, EventSeen(type="event", name=rule.name), since=moment.started_at
                ):
                    return f"exit: event {rule.name}"
            case ExitOnTag():
                if any(tag.name.lower() == rule.tag.lower() for tag in contact.tags):
                    return f"exit: tagged {rule.tag}"
            case ExitOnUnsubscribe():
                if contact.status != ContactStatus.ACTIVE:
                    return f"exit: contact {contact.status.value}"
            case ExitOnLeavingList():
                row = session.scalar(
                    select(ListSubscription.status).where(
                        ListSubscription.list_id == rule.list_id, ListSubscription.contact_id == contact.id
                    )
                )
                if row != SubscriptionStatus.SUBSCRIBED:
                    return f"exit: left list {rule.list_id}"
    return None
