"""One contact's run through split, set_field, list, webhook, notify, wait_until (a date, then a time of
day), a goto loop and end, on the time-skipping server; its history is recorded for the replay tests."""

from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from nurture.automations.runs import RunOutcome, RunView
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from tests.workflows.automation_world import World, world_on
from tests.workflows.histories import record
from tests.workflows.webhook_receiver import receiving


@pytest.fixture
async def world(
    settings: Settings, time_skipping: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[World]:
    async with world_on(time_skipping, settings, postmark_server, indexed=False) as world:
        yield world


def every_step(*, url: str, note: int, trial: int, customers: int, date: datetime) -> dict[str, Any]:
    """The loop at the end goes round once: its own set_field meets its condition the second time."""
    return {
        "steps": [
            {
                "id": "ab",
                "type": "split",
                "branches": [{"percent": 50, "next": "offer-a"}, {"percent": 50, "next": "offer-b"}],
            },
            {"id": "offer-a", "type": "set_field", "field": "offer", "value": "A", "next": "join"},
            {"id": "offer-b", "type": "set_field", "field": "offer", "value": "B"},
            {"id": "join", "type": "list", "action": "subscribe", "list_id": customers},
            {"id": "leave", "type": "list", "action": "unsubscribe", "list_id": trial},
            {"id": "crm", "type": "webhook", "url": url, "body": {"stage": "customer"}},
            {"id": "tell-owner", "type": "notify", "template_id": note},
            {"id": "until-date", "type": "wait_until", "date": date.isoformat()},
            {"id": "morning", "type": "wait_until", "time_of_day": "09:00", "weekdays": ["mon", "fri"]},
            {"id": "loop-wait", "type": "wait", "duration": "1d"},
            {
                "id": "looped",
                "type": "if",
                "condition": {"type": "field", "field": "looped", "value": "yes"},
                "then": "done",
                "else": "mark",
            },
            {"id": "mark", "type": "set_field", "field": "looped", "value": "yes", "next": "back"},
            {"id": "back", "type": "goto", "step": "loop-wait"},
            {"id": "done", "type": "end"},
        ]
    }


async def test_one_run_passes_every_kind_of_step_and_each_does_what_it_says(world: World) -> None:
    owner = world.user("owner@team.example", "Owner")
    note = world.template("{{ contact.first_name }} became a customer")
    trial, customers = world.mailing_list("Trial"), world.mailing_list("Customers")
    date = (await world.env.get_current_time() + timedelta(days=2)).replace(microsecond=0)
    with receiving() as receiver:
        url = receiver.answer("/crm", 200)
        definition = every_step(url=url, note=note, trial=trial, customers=customers, date=date)
        automation = world.automation("Every step", definition)
        berlin = ZoneInfo("Europe/Berlin")
        contact = world.contact("ada@example.com", timezone="Europe/Berlin", owner_id=owner, lists=(trial,))
        handle = await world.enroll(automation, contact)
        outcome: RunOutcome = await handle.result()
        await record(world.client, workflow_id=handle.id, name="automation_every_step_a")
    view: RunView = await handle.query("state", result_type=RunView)
    now = world.now(contact)
    offer = now.custom_fields["offer"]
    steps = [visit.step for visit in view.passed]
    loop = ["loop-wait", "looped", "mark", "back", "loop-wait", "looped", "done"]
    branch = f"offer-{offer.lower()}"
    assert steps == ["ab", branch, "join", "leave", "crm", "tell-owner", "until-date", "morning", *loop]
    assert (outcome.status, outcome.last_step) == ("completed", "done")

    assert now.custom_fields == {"offer": offer, "looped": "yes"}
    assert now.lists == {trial: "unsubscribed", customers: "subscribed"}
    [call] = receiver.calls_to("/crm")
    assert call.body["stage"] == "customer" and call.headers["Idempotency-Key"] == f"{handle.id}:crm:1"
    assert world.subjects("owner@team.example") == ["Ada became a customer"]
    assert world.subjects("ada@example.com") == []

    at = {visit.step: visit.at for visit in view.passed}
    assert date <= at["morning"] < date + timedelta(minutes=1)
    # The first pass into the loop is when `morning` let the run go: 09:00 in Berlin, Mon or Fri.
    woke = next(visit.at for visit in view.passed if visit.step == "loop-wait").astimezone(berlin)
    assert woke.strftime("%a %H:%M") in ("Mon 09:00", "Fri 09:00")
    # Every step entered has an entry row per entry: the loop's steps two, the others one.
    assert Counter(world.entries(handle.id)) == Counter(steps)
