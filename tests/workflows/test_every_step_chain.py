"""Steps that reach other automations, on the real dev server (enrolling needs Nurture's search
attributes, which the time-skipping server lacks): tag, set_field and list steps start the
automations their change triggers and wake a run waiting for the tag; start_automation enrolls by
the other automation's entry rule."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from nurture.automations.runs import RunOutcome, RunView
from nurture.db.models import RunStatus
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from tests.workflows.automation_world import World, world_on
from tests.workflows.histories import record

# Real time on the dev server: what a step sets off happens within this.
SECONDS = 20


@pytest.fixture
async def world(
    settings: Settings, dev_server: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[World]:
    async with world_on(dev_server, settings, postmark_server, indexed=True) as world:
        yield world


async def until_runs(world: World, automation_id: int, status: RunStatus, count: int = 1) -> None:
    for _ in range(SECONDS * 20):
        if [run.status for run in world.runs(automation_id)] == [status] * count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"automation {automation_id} runs: {[r.status for r in world.runs(automation_id)]}")


def sends_on(world: World, trigger: dict[str, object], subject: str) -> int:
    """An automation that one trigger starts and that sends one email."""
    template = world.template(subject)
    step = {"id": "send", "type": "send_email", "template_id": template}
    return world.automation(subject, {"triggers": [trigger], "steps": [step]})


async def test_tag_field_and_list_steps_start_what_they_trigger_and_wake_a_run_waiting_for_the_tag(
    world: World,
) -> None:
    customers = world.mailing_list("Customers")
    welcome = world.template("Welcome to VIP")
    waiting = world.automation(
        "Waiting for VIP",
        {
            "steps": [
                {
                    "id": "wait-vip",
                    "type": "wait_for",
                    "condition": {"type": "tag", "tag": "vip"},
                    "timeout": "30d",
                    "on_timeout": "never",
                },
                {"id": "welcome-vip", "type": "send_email", "template_id": welcome},
                {"id": "done", "type": "end"},
                {"id": "never", "type": "tag", "add": ["never vip"]},
            ]
        },
    )
    # Tags ignore case: a trigger written "VIP" fires on the tag "vip".
    triggered = [
        sends_on(world, {"type": "tag_added", "tag": "VIP"}, "Your VIP onboarding"),
        sends_on(world, {"type": "tag_removed", "tag": "trial"}, "Your trial has ended"),
        sends_on(world, {"type": "field_changed", "field": "plan", "to": "pro"}, "Welcome to Pro"),
        sends_on(world, {"type": "list_subscribed", "list_id": customers}, "Welcome, customer"),
    ]
    not_triggered = sends_on(world, {"type": "field_changed", "field": "plan", "to": "team"}, "Team plan")
    qualify = world.automation(
        "Qualify",
        {
            "steps": [
                {"id": "make-vip", "type": "tag", "add": ["vip"], "remove": ["trial"]},
                {"id": "plan", "type": "set_field", "field": "plan", "value": "pro"},
                {"id": "join", "type": "list", "action": "subscribe", "list_id": customers},
                {"id": "done", "type": "end"},
            ]
        },
    )
    contact = world.contact("ada@example.com", tags=("trial",))
    waiter = await world.enroll(waiting, contact)
    await world.until_at(waiter, "wait-vip")

    tagger = await world.enroll(qualify, contact)
    outcome: RunOutcome = await tagger.result()
    await record(world.client, workflow_id=tagger.id, name="automation_every_step_b")
    assert (outcome.status, outcome.last_step) == ("completed", "done")

    # Told of the tag, the waiting run goes on at once instead of after its 30 days.
    woken: RunOutcome = await asyncio.wait_for(waiter.result(), SECONDS)
    await record(world.client, workflow_id=waiter.id, name="automation_every_step_woken")
    view: RunView = await waiter.query("state", result_type=RunView)
    assert [visit.step for visit in view.passed] == ["wait-vip", "welcome-vip", "done"]
    assert woken.status == "completed"
    for automation_id in triggered:
        await until_runs(world, automation_id, RunStatus.COMPLETED)
    assert world.runs(not_triggered) == []
    expected = [
        "Welcome to VIP",
        "Your VIP onboarding",
        "Your trial has ended",
        "Welcome to Pro",
        "Welcome, customer",
    ]
    # Every run that sent has completed, so its email is in the inbox.
    assert sorted(world.subjects("ada@example.com")) == sorted(expected)
    assert world.now(contact).tags == ["vip"]


async def test_start_automation_enrolls_the_contact_once_its_entry_rule_allows_and_goes_on_regardless(
    world: World,
) -> None:
    offer = world.template("An offer for Pro")
    upsell = world.automation(
        "Upsell",
        {"entry": {"mode": "once"}, "steps": [{"id": "offer", "type": "send_email", "template_id": offer}]},
    )
    renewal = world.automation(
        "Renewal",
        {
            "entry": {"mode": "after_previous"},
            "steps": [
                {"id": "upsell", "type": "start_automation", "automation_id": upsell},
                {"id": "noted", "type": "tag", "add": ["upsell offered"]},
                {"id": "done", "type": "end"},
            ],
        },
    )
    contact = world.contact("grace@example.com")
    first = await world.enroll(renewal, contact)
    outcome: RunOutcome = await first.result()
    await record(world.client, workflow_id=first.id, name="automation_every_step_c")
    assert (outcome.status, outcome.last_step) == ("completed", "done")
    await until_runs(world, upsell, RunStatus.COMPLETED)
    assert world.runs(upsell)[0].contact_id == contact

    # A second renewal: the upsell's `once` rule refuses the contact, and the renewal goes on.
    second = await world.enroll(renewal, contact)
    outcome = await second.result()
    assert (outcome.status, outcome.last_step) == ("completed", "done")
    view: RunView = await second.query("state", result_type=RunView)
    assert [visit.step for visit in view.passed] == ["upsell", "noted", "done"]
    assert len(world.runs(upsell)) == 1
    assert [run.status for run in world.runs(renewal)] == [RunStatus.COMPLETED] * 2
    assert world.subjects("grace@example.com") == ["An offer for Pro"]
