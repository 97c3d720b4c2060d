"""Which automations a contact's change starts: trigger matching over active automations' newest versions."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from nurture.automations.triggers import (
    Change,
    EventRecorded,
    FieldUpdated,
    Replied,
    SubscriptionChanged,
    Tagged,
    Triggered,
    Untagged,
    contact_fields,
    field_changes,
    heard_by_runs,
    triggered,
)
from nurture.db.models import Automation, AutomationStatus, AutomationVersion, Contact
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
STEPS = [{"id": "wait", "type": "wait", "duration": "1d"}]


def _automation(
    session: Session,
    name: str,
    *triggers: dict[str, Any],
    status: AutomationStatus = AutomationStatus.ACTIVE,
    entry: dict[str, Any] | None = None,
) -> int:
    automation = Automation(name=name, status=status)
    session.add(automation)
    session.flush()
    definition: dict[str, Any] = {"triggers": list(triggers), "steps": STEPS}
    if entry:
        definition["entry"] = entry
    session.add(AutomationVersion(automation_id=automation.id, number=1, definition=definition))
    session.flush()
    return automation.id


def _started(settings: Settings, *changes: Change) -> list[tuple[int, str | None]]:
    with session_factory(settings.resolved_database_url)() as session:
        found = triggered(session, changes=list(changes))
    return [(t.automation_id, t.entry_value) for t in found]


def _event(name: str, **properties: Any) -> EventRecorded:
    return EventRecorded(name=name, occurred_at=NOW, properties=properties)


def test_list_subscriptions_start_the_automations_of_that_list(settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        newsletter = _automation(session, "Newsletter welcome", {"type": "list_subscribed", "list_id": 1})
        _automation(session, "Other list", {"type": "list_subscribed", "list_id": 2})
    assert _started(settings, SubscriptionChanged(1, subscribed=True)) == [(newsletter, None)]
    assert _started(settings, SubscriptionChanged(1, subscribed=False)) == []
    assert _started(settings, SubscriptionChanged(3, subscribed=True)) == []
    # A tag change never starts a list trigger.
    assert _started(settings, Tagged("1")) == []


def test_tags_match_ignoring_case_and_removal_is_its_own_trigger(settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        trial = _automation(session, "Trial", {"type": "tag_added", "tag": "Trial"})
        churn = _automation(session, "Win back", {"type": "tag_removed", "tag": "customer"})
    assert _started(settings, Tagged("trial")) == [(trial, None)]
    assert _started(settings, Untagged("Trial")) == []
    assert _started(settings, Untagged("CUSTOMER")) == [(churn, None)]
    assert _started(settings, Tagged("customer")) == []


def test_field_changes_match_the_field_and_the_value_it_changed_to(settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        pro = _automation(session, "Upgraded", {"type": "field_changed", "field": "plan", "to": "pro"})
        any_plan = _automation(session, "Plan changed", {"type": "field_changed", "field": "plan"})
        moved = _automation(session, "Moved", {"type": "field_changed", "field": "timezone"})
    assert _started(settings, FieldUpdated("plan", "pro")) == [(pro, None), (any_plan, None)]
    assert _started(settings, FieldUpdated("plan", "team")) == [(any_plan, None)]
    assert _started(settings, FieldUpdated("plan", None)) == [(any_plan, None)]
    assert _started(settings, FieldUpdated("timezone", "Europe/Paris")) == [(moved, None)]
    assert _started(settings, FieldUpdated("first_name", "pro")) == []


def test_event_triggers_need_the_name_and_every_trigger_property(settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        any_cart = _automation(session, "Any cart", {"type": "event", "name": "cart_abandoned"})
        web = _automation(
            session,
            "Web cart",
            {"type": "event", "name": "cart_abandoned", "properties": {"channel": "web", "items": 2}},
        )
    assert _started(settings, _event("cart_abandoned")) == [(any_cart, None)]
    # The event may carry more than the trigger names.
    both = _started(settings, _event("cart_abandoned", channel="web", items=2, total=30))
    assert both == [(any_cart, None), (web, None)]
    assert _started(settings, _event("cart_abandoned", channel="app", items=2)) == [(any_cart, None)]
    assert _started(settings, _event("cart_abandoned", channel="web")) == [(any_cart, None)]
    assert _started(settings, _event("Cart_Abandoned", channel="web", items=2)) == []


def test_per_value_entry_takes_the_property_and_starts_one_run_per_value(settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        carts = _automation(
            session,
            "Carts",
            {"type": "event", "name": "cart_abandoned"},
            entry={"mode": "per_value", "property": "cart_id"},
        )
    assert _started(settings, _event("cart_abandoned", cart_id="c-1")) == [(carts, "c-1")]
    # Numbers become text, as entry values are stored.
    assert _started(settings, _event("cart_abandoned", cart_id=42)) == [(carts, "42")]
    # Missing: matched all the same, and enrolling refuses it naming the property.
    assert _started(settings, _event("cart_abandoned")) == [(carts, None)]
    two = _started(settings, _event("cart_abandoned", cart_id="a"), _event("cart_abandoned", cart_id="b"))
    assert two == [(carts, "a"), (carts, "b")]


def test_only_active_automations_and_their_newest_version_count(settings: Settings) -> None:
    trigger = {"type": "tag_added", "tag": "vip"}
    with transaction(session_factory(settings.resolved_database_url)) as session:
        active = _automation(session, "Active", trigger)
        for status in (AutomationStatus.DRAFT, AutomationStatus.PAUSED, AutomationStatus.ARCHIVED):
            _automation(session, f"Not {status.value}", trigger, status=status)
        # Version 1 was triggered by the tag; version 2, the one new runs start on, is not.
        changed = _automation(session, "Changed its trigger", trigger)
        session.add(
            AutomationVersion(
                automation_id=changed,
                number=2,
                definition={"triggers": [{"type": "tag_added", "tag": "gold"}], "steps": STEPS},
            )
        )
    assert _started(settings, Tagged("vip")) == [(active, None)]
    assert _started(settings, Tagged("gold")) == [(changed, None)]


def test_replies_to_1to1_email_start_the_automations_of_any_user_or_of_theirs(settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        anyone = _automation(session, "Any reply", {"type": "one_to_one_replied"})
        grace = _automation(session, "Grace's replies", {"type": "one_to_one_replied", "user_id": 7})
        _automation(session, "Tagged", {"type": "tag_added", "tag": "replied"})
    assert _started(settings, Replied(user_id=7)) == [(anyone, None), (grace, None)]
    assert _started(settings, Replied(user_id=8)) == [(anyone, None)]
    assert _started(settings, Tagged("replied")) != [(anyone, None)]
    # A reply reaches the run that sent the email; the contact's other runs have nothing to re-check.
    assert heard_by_runs([Replied(user_id=7), Tagged("x")]) == [Tagged("x")]


def test_several_changes_firing_one_automation_start_it_once(settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        welcome = _automation(
            session,
            "Welcome",
            {"type": "tag_added", "tag": "lead"},
            {"type": "list_subscribed", "list_id": 1},
        )
    with session_factory(settings.resolved_database_url)() as session:
        found = triggered(session, changes=[Tagged("lead"), SubscriptionChanged(1, subscribed=True)])
    assert found == [Triggered(welcome, Tagged("lead"), None)]
    assert _started(settings) == []


def test_field_changes_between_snapshots_cover_built_in_and_custom_fields(settings: Settings) -> None:
    contact = Contact(email="ada@example.com", first_name="Ada", custom_fields={"plan": "free", "seats": 1})
    before = contact_fields(contact)
    assert before["first_name"] == "Ada" and before["plan"] == "free" and before["timezone"] is None
    contact.first_name = "Ada"
    contact.timezone = "Europe/London"
    contact.custom_fields = {"plan": "pro", "team": "R&D"}
    changes = field_changes(before, contact_fields(contact))
    assert sorted(changes, key=lambda change: change.field) == [
        FieldUpdated("plan", "pro"),
        FieldUpdated("seats", None),
        FieldUpdated("team", "R&D"),
        FieldUpdated("timezone", "Europe/London"),
    ]
