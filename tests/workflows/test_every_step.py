"""Routing and contact steps run by the real workflow on the time-skipping server: split, goto, set_field,
list and end, as the database, the inbox and the run's `state` query show them."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from nurture.automations.runs import RunOutcome, RunView
from nurture.crud.lists import delete_list, get_list
from nurture.db.models import RunStatus
from nurture.db.session import transaction
from nurture.postmark_server import RunningServer
from nurture.schemas.email import METADATA_KEY
from nurture.settings import Settings
from tests.workflows.automation_world import World, world_on


@pytest.fixture
async def world(
    settings: Settings, time_skipping: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[World]:
    async with world_on(time_skipping, settings, postmark_server, indexed=False) as world:
        yield world


def path(view: RunView) -> list[str]:
    return [visit.step for visit in view.passed]


async def finished(world: World, contact_id: int, automation_id: int) -> tuple[RunOutcome, RunView]:
    handle = await world.enroll(automation_id, contact_id)
    outcome: RunOutcome = await handle.result()
    return outcome, await handle.query("state", result_type=RunView)


async def test_a_split_sends_each_contact_down_one_branch_and_both_branches_get_contacts(
    world: World,
) -> None:
    automation = world.automation(
        "A/B",
        {
            "steps": [
                {
                    "id": "ab",
                    "type": "split",
                    "branches": [{"percent": 50, "next": "offer-a"}, {"percent": 50, "next": "offer-b"}],
                },
                {"id": "offer-a", "type": "set_field", "field": "offer", "value": "A", "next": "done"},
                {"id": "offer-b", "type": "set_field", "field": "offer", "value": "B"},
                {"id": "done", "type": "end"},
            ]
        },
    )
    contacts = [world.contact(f"split{i}@example.com") for i in range(30)]
    offers = []
    for contact in contacts:
        # One result awaited at a time: the test server's time-skipping lock breaks under several.
        outcome, view = await finished(world, contact, automation)
        offer = world.now(contact).custom_fields["offer"]
        # The branch the run took is the one whose field the contact got, and only that one.
        assert path(view) == ["ab", f"offer-{offer.lower()}", "done"]
        assert outcome.status == "completed" and outcome.last_step == "done"
        offers.append(offer)
    # 30 fair coin flips all alike: one chance in 500 million.
    assert sorted(set(offers)) == ["A", "B"]


async def test_a_goto_loop_repeats_a_send_and_its_wait_until_its_condition_ends_it(world: World) -> None:
    digest = world.template("Your weekly digest")
    automation = world.automation(
        "Digest",
        {
            "steps": [
                {"id": "digest", "type": "send_email", "template_id": digest},
                {"id": "week", "type": "wait", "duration": "7d"},
                {
                    "id": "stop",
                    "type": "if",
                    "condition": {"type": "tag", "tag": "no more digests"},
                    "then": "done",
                    "else": "again",
                },
                {"id": "again", "type": "goto", "step": "digest"},
                {"id": "done", "type": "end"},
            ]
        },
    )
    contact = world.contact("loop@example.com")
    handle = await world.enroll(automation, contact)
    await world.until_at(handle, "week")
    await world.env.sleep(timedelta(days=7, hours=1))
    await world.until_at(handle, "week", visits=2)
    world.tag(contact, "no more digests")
    outcome: RunOutcome = await handle.result()
    view: RunView = await handle.query("state", result_type=RunView)
    assert path(view) == ["digest", "week", "stop", "again", "digest", "week", "stop", "done"]
    assert outcome.status == "completed" and outcome.last_step == "done"
    # One email per pass, each under its own key: the loop does not resend the first.
    assert world.subjects("loop@example.com") == ["Your weekly digest"] * 2
    keys = {m["Metadata"][METADATA_KEY] for m in world.postmark.messages(recipient="loop@example.com")}
    assert keys == {f"{handle.id}:digest:1", f"{handle.id}:digest:2"}


async def test_a_long_goto_loop_continues_as_new_and_keeps_its_row_and_entries(world: World) -> None:
    automation = world.automation(
        "Hourly",
        {
            "steps": [
                {"id": "tick", "type": "wait", "duration": "1h"},
                {
                    "id": "stop",
                    "type": "if",
                    "condition": {"type": "tag", "tag": "stop"},
                    "then": "done",
                    "else": "back",
                },
                {"id": "back", "type": "goto", "step": "tick"},
                {"id": "done", "type": "end"},
            ]
        },
    )
    contact = world.contact("hourly@example.com")
    handle = await world.enroll(automation, contact)
    # Past 300 steps (100 rounds), the run continues as new with what it remembers.
    await world.env.sleep(timedelta(hours=110))
    for _ in range(200):
        if (await handle.describe()).run_id != handle.first_execution_run_id:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the run never continued as new")
    world.tag(contact, "stop")
    outcome: RunOutcome = await handle.result()
    assert (outcome.status, outcome.last_step) == ("completed", "done")
    [row] = world.runs(automation)
    assert (row.status, row.current_step) == (RunStatus.COMPLETED, "done")
    entries = Counter(world.entries(handle.id))
    assert entries["tick"] == entries["stop"] == entries["back"] + 1 > 100 and entries["done"] == 1


async def test_set_field_sets_custom_and_built_in_fields_and_the_next_condition_sees_them(
    world: World,
) -> None:
    automation = world.automation(
        "Fields",
        {
            "steps": [
                {"id": "plan", "type": "set_field", "field": "plan", "value": "pro"},
                {"id": "name", "type": "set_field", "field": "first_name", "value": "Grace"},
                {"id": "clear", "type": "set_field", "field": "trial", "value": None},
                {
                    "id": "pro",
                    "type": "if",
                    "condition": {"type": "field", "field": "plan", "op": "eq", "value": "pro"},
                    "then": "hot",
                    "else": "cold",
                },
                {"id": "hot", "type": "tag", "add": ["pro plan"], "next": "done"},
                {"id": "cold", "type": "tag", "add": ["no plan"]},
                {"id": "done", "type": "end"},
            ]
        },
    )
    contact = world.contact("fields@example.com", custom_fields={"trial": "yes", "seats": 3})
    outcome, view = await finished(world, contact, automation)
    assert outcome.status == "completed"
    assert path(view) == ["plan", "name", "clear", "pro", "hot", "done"]
    now = world.now(contact)
    # Custom fields merge: the one set is added, the one set to null removed, the rest kept.
    assert now.custom_fields == {"seats": 3, "plan": "pro"}
    assert now.first_name == "Grace" and now.tags == ["pro plan"]


async def test_list_steps_subscribe_and_unsubscribe_with_the_automation_as_consent_source(
    world: World,
) -> None:
    trial, customers = world.mailing_list("Trial"), world.mailing_list("Customers")
    automation = world.automation(
        "Lists",
        {
            "steps": [
                {"id": "join", "type": "list", "action": "subscribe", "list_id": customers},
                {"id": "leave", "type": "list", "action": "unsubscribe", "list_id": trial},
                {
                    "id": "moved",
                    "type": "if",
                    "condition": {
                        "type": "all",
                        "conditions": [
                            {"type": "list", "list_id": customers},
                            {"type": "list", "list_id": trial, "subscribed": False},
                        ],
                    },
                    "then": "yes",
                    "else": "no",
                },
                {"id": "yes", "type": "tag", "add": ["customer"], "next": "done"},
                {"id": "no", "type": "tag", "add": ["still trial"]},
                {"id": "done", "type": "end"},
            ]
        },
    )
    contact = world.contact("lists@example.com", lists=(trial,))
    outcome, view = await finished(world, contact, automation)
    assert outcome.status == "completed" and path(view)[-2:] == ["yes", "done"]
    now = world.now(contact)
    assert now.lists == {trial: "unsubscribed", customers: "subscribed"}
    assert now.consent[customers] == f"automation {automation}"
    assert now.tags == ["customer"]


async def test_a_list_step_on_a_deleted_list_is_skipped_and_the_run_completes(world: World) -> None:
    gone = world.mailing_list("Gone")
    automation = world.automation(
        "Deleted list", {"steps": [{"id": "join", "type": "list", "action": "subscribe", "list_id": gone}]}
    )
    with transaction(world.sessions()) as session:
        mailing_list = get_list(session, list_id=gone)
        assert mailing_list is not None
        delete_list(session, mailing_list=mailing_list)
    handle = await world.enroll(automation, world.contact("gone@example.com"))
    outcome = await handle.result()
    assert outcome.status == "completed"
    assert world.run_row(handle.id).status == RunStatus.COMPLETED


async def test_end_stops_the_run_before_the_steps_below_it(world: World) -> None:
    automation = world.automation(
        "End",
        {
            "steps": [
                {
                    "id": "vip",
                    "type": "if",
                    "condition": {"type": "tag", "tag": "vip"},
                    "then": "stop",
                    "else": "went-on",
                },
                {"id": "stop", "type": "end"},
                {"id": "went-on", "type": "tag", "add": ["went on"]},
            ]
        },
    )
    vip, other = world.contact("vip@example.com", tags=("vip",)), world.contact("other@example.com")
    outcome, view = await finished(world, vip, automation)
    assert (outcome.status, outcome.last_step, path(view)) == ("completed", "stop", ["vip", "stop"])
    assert world.now(vip).tags == ["vip"]
    row = world.runs(automation)[0]
    assert (row.status, row.current_step) == (RunStatus.COMPLETED, "stop")
    outcome, view = await finished(world, other, automation)
    assert (outcome.last_step, world.now(other).tags) == ("went-on", ["went on"])
