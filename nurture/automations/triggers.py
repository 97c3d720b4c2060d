"""Which automations a change to a contact starts: its triggers against active automations' latest versions.

A route describes what it changed as `Change` values after committing; `fires` matches one trigger
against one change (pure), and `triggered` finds every active automation whose newest version has a
trigger a change fires, with the entry value its entry rule needs (one run per cart).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nurture.automations.definition import (
    Definition,
    EventReceived,
    FieldChanged,
    ListSubscribed,
    OneToOneReplied,
    TagAdded,
    TagRemoved,
    Trigger,
)
from nurture.automations.evaluate import BUILT_IN, field_value
from nurture.automations.versions import definition_of
from nurture.db.models import Automation, AutomationStatus, AutomationVersion, Contact


@dataclass(frozen=True)
class SubscriptionChanged:
    """The contact's standing on a list changed: newly subscribed, or no longer subscribed."""

    list_id: int
    subscribed: bool


@dataclass(frozen=True)
class Tagged:
    """A tag was added to the contact."""

    tag: str


@dataclass(frozen=True)
class Untagged:
    """A tag was removed from the contact."""

    tag: str


@dataclass(frozen=True)
class FieldUpdated:
    """A field (built-in or custom) changed to `value` (None when it was cleared)."""

    field: str
    value: Any


@dataclass(frozen=True)
class EventRecorded:
    """A custom event about the contact was recorded (`POST /events`)."""

    name: str
    occurred_at: datetime
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Replied:
    """The contact replied to a 1:1 email `user_id` sent (the contact itself did not change)."""

    user_id: int


Change = SubscriptionChanged | Tagged | Untagged | FieldUpdated | EventRecorded | Replied


@dataclass(frozen=True)
class Triggered:
    """An automation a change starts for the contact, and the entry value of its run (per-value entry)."""

    automation_id: int
    change: Change
    entry_value: str | None = None


def fires(trigger: Trigger, change: Change) -> bool:
    """Whether this change starts a run by this trigger."""
    match trigger, change:
        case ListSubscribed(), SubscriptionChanged():
            return change.subscribed and trigger.list_id == change.list_id
        # Tag names are unique ignoring case, so a trigger written in another case is the same tag.
        case TagAdded(), Tagged():
            return trigger.tag.strip().lower() == change.tag.strip().lower()
        case TagRemoved(), Untagged():
            return trigger.tag.strip().lower() == change.tag.strip().lower()
        case FieldChanged(), FieldUpdated():
            return trigger.field == change.field and (trigger.to is None or trigger.to == change.value)
        case EventReceived(), EventRecorded():
            if trigger.name != change.name:
                return False
            # The trigger's properties are a subset of the event's: an event may carry more.
            return all(
                key in change.properties and change.properties[key] == value
                for key, value in trigger.properties.items()
            )
        case OneToOneReplied(), Replied():
            return trigger.user_id is None or trigger.user_id == change.user_id
    return False


def heard_by_runs(changes: Sequence[Change]) -> list[Change]:
    """The changes a contact's running runs are told of: a reply already reaches the run that sent
    the email, and changes nothing the others check."""
    return [change for change in changes if not isinstance(change, Replied)]


def entry_value(definition: Definition, change: Change) -> str | None:
    """The value a per-value entry rule keys runs on: the named property of the triggering event.

    None when the rule is not per value, the change is not an event or the event lacks the property;
    enrolling then refuses a per-value automation, naming the property.
    """
    rule = definition.entry
    if rule.mode != "per_value" or rule.property is None or not isinstance(change, EventRecorded):
        return None
    value = change.properties.get(rule.property)
    if value is None or isinstance(value, dict | list):
        return None
    return value if isinstance(value, str) else str(value)


def contact_fields(contact: Contact) -> dict[str, Any]:
    """The contact's built-in and custom fields by name, as `field_changed` triggers see them."""
    fields = {name: field_value(contact, name) for name in BUILT_IN}
    # A custom field never shadows a built-in one of the same name.
    return {**dict(contact.custom_fields or {}), **fields}


def field_changes(before: dict[str, Any], after: dict[str, Any]) -> list[FieldUpdated]:
    """The fields whose value differs between two `contact_fields` snapshots, with their new value."""
    return [
        FieldUpdated(name, after.get(name))
        for name in dict.fromkeys([*before, *after])
        if before.get(name) != after.get(name)
    ]


def active_definitions(session: Session) -> list[tuple[int, Definition]]:
    """Each active automation's id with its newest version's definition (the one new runs start on)."""
    latest = (
        select(AutomationVersion.automation_id, func.max(AutomationVersion.number).label("number"))
        .group_by(AutomationVersion.automation_id)
        .subquery()
    )
    rows = session.execute(
        select(Automation.id, AutomationVersion.id, AutomationVersion.created_at)
        .join(latest, latest.c.automation_id == Automation.id)
        .join(
            AutomationVersion,
            (AutomationVersion.automation_id == Automation.id)
            & (AutomationVersion.number == latest.c.number),
        )
        .where(Automation.status == AutomationStatus.ACTIVE)
        .order_by(Automation.id)
    ).all()
    return [
        (automation_id, definition_of(session, version_id, created))
        for automation_id, version_id, created in rows
    ]


def triggered_by(definitions: Sequence[tuple[int, Definition]], changes: Sequence[Change]) -> list[Triggered]:
    """The automations among `definitions` these changes start, each once per entry value, in order.

    Whether the contact may enter (the entry rule) is decided by enrolling, not here.
    """
    found: dict[tuple[int, str | None], Triggered] = {}
    for automation_id, definition in definitions:
        for change in changes:
            if not any(fires(trigger, change) for trigger in definition.triggers):
                continue
            value = entry_value(definition, change)
            # Several changes (two tags, two lists) firing one automation start one run.
            found.setdefault((automation_id, value), Triggered(automation_id, change, value))
    return list(found.values())


def triggered(session: Session, *, changes: Sequence[Change]) -> list[Triggered]:
    """The active automations whose newest version these changes start (see `triggered_by`)."""
    if not changes:
        return []
    return triggered_by(active_definitions(session), changes)
