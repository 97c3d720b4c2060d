"""Steps that reach outside the contact: webhook (a real local HTTP receiver: body, Idempotency-Key,
retries on 5xx and timeouts, none on 4xx, the run going on regardless) and notify (an email to an
account user that arrives at the local Postmark server), on the time-skipping server."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from nurture.automations.runs import RunOutcome, RunView
from nurture.db.models import ContactStatus
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from tests.workflows.automation_world import World, world_on
from tests.workflows.histories import record
from tests.workflows.webhook_receiver import Receiver, receiving


@pytest.fixture
async def world(
    settings: Settings, time_skipping: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[World]:
    async with world_on(time_skipping, settings, postmark_server, indexed=False) as world:
        yield world


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


def then_tag(step: dict[str, Any], tag: str) -> dict[str, Any]:
    """A one-step automation followed by a tag: the tag shows the run went on after the step."""
    return {"steps": [step, {"id": "after", "type": "tag", "add": [tag]}]}


async def run_through(world: World, automation_id: int, contact_id: int) -> tuple[str, RunOutcome, RunView]:
    handle = await world.enroll(automation_id, contact_id)
    outcome: RunOutcome = await handle.result()
    return handle.id, outcome, await handle.query("state", result_type=RunView)


async def test_a_webhook_posts_the_contact_and_body_with_one_idempotency_key_and_retries_5xx(
    world: World, receiver: Receiver
) -> None:
    url = receiver.answer("/crm/lead", 503, 502, 200)
    hook = {"id": "crm", "type": "webhook", "url": url, "body": {"stage": "warm"}, "retries": 3}
    automation = world.automation("CRM sync", then_tag(hook, "synced"))
    contact = world.contact("hooked@example.com")
    workflow_id, outcome, _ = await run_through(world, automation, contact)
    calls = receiver.calls_to("/crm/lead")
    assert len(calls) == 3  # two 5xx answers, then the 200
    for call in calls:
        assert call.method == "POST" and call.headers["Content-Type"] == "application/json"
        assert call.body == {
            "contact_id": contact,
            "automation_id": automation,
            "step": "crm",
            "stage": "warm",
        }
    # The receiver can tell the retries are one call: they share the key.
    assert {call.headers["Idempotency-Key"] for call in calls} == {f"{workflow_id}:crm:1"}
    assert outcome.status == "completed" and world.now(contact).tags == ["synced"]


async def test_a_webhook_refused_with_a_4xx_is_not_retried_and_the_run_goes_on(
    world: World, receiver: Receiver
) -> None:
    url = receiver.answer("/refuses", 400)
    hook = {"id": "crm", "type": "webhook", "url": url, "retries": 3}
    automation = world.automation("Refused", then_tag(hook, "went on"))
    contact = world.contact("refused@example.com")
    _, outcome, view = await run_through(world, automation, contact)
    assert len(receiver.calls_to("/refuses")) == 1
    assert outcome.status == "completed" and [v.step for v in view.passed] == ["crm", "after"]
    assert world.now(contact).tags == ["went on"]


async def test_a_webhook_that_keeps_failing_is_tried_retries_plus_one_times_and_the_run_goes_on(
    world: World, receiver: Receiver
) -> None:
    url = receiver.answer("/down", 500)
    hook = {"id": "crm", "type": "webhook", "url": url, "retries": 2}
    automation = world.automation("Down", then_tag(hook, "went on"))
    contact = world.contact("down@example.com")
    workflow_id, outcome, _ = await run_through(world, automation, contact)
    await record(world.client, workflow_id=workflow_id, name="automation_every_step_webhook_failed")
    assert len(receiver.calls_to("/down")) == 3
    assert outcome.status == "completed" and world.now(contact).tags == ["went on"]


async def test_a_webhook_slower_than_its_timeout_is_retried(world: World, receiver: Receiver) -> None:
    url = receiver.answer("/slow", 200)
    receiver.slow["/slow"] = 2.0
    hook = {"id": "crm", "type": "webhook", "url": url, "method": "PUT", "timeout": "1s", "retries": 1}
    automation = world.automation("Slow", then_tag(hook, "went on"))
    contact = world.contact("slow@example.com")
    _, outcome, _ = await run_through(world, automation, contact)
    calls = receiver.calls_to("/slow")
    assert [call.method for call in calls] == ["PUT", "PUT"]
    assert outcome.status == "completed" and world.now(contact).tags == ["went on"]


async def test_notify_emails_the_named_user_about_the_contact(world: World) -> None:
    note = world.template("New lead: {{ contact.first_name }}")
    sales = world.user("sales@team.example", "Sales")
    owner = world.user("owner@team.example", "Owner")
    automation = world.automation(
        "Tell sales", {"steps": [{"id": "tell", "type": "notify", "template_id": note, "user_id": sales}]}
    )
    contact = world.contact("ada@example.com", owner_id=owner)
    _, outcome, _ = await run_through(world, automation, contact)
    assert outcome.status == "completed"
    assert world.subjects("sales@team.example") == ["New lead: Ada"]
    assert world.subjects("owner@team.example") == [] and world.subjects("ada@example.com") == []


async def test_notify_without_a_user_emails_the_contacts_owner_even_when_the_contact_opted_out(
    world: World,
) -> None:
    note = world.template("{{ contact.first_name }} needs a call")
    owner = world.user("owner@team.example", "Owner")
    automation = world.automation(
        "Tell owner", {"steps": [{"id": "tell", "type": "notify", "template_id": note}]}
    )
    contact = world.contact("grace@example.com", owner_id=owner, status=ContactStatus.UNSUBSCRIBED)
    _, outcome, _ = await run_through(world, automation, contact)
    assert outcome.status == "completed"
    # A note to a colleague is not marketing to the contact: their opt-out does not stop it.
    [email] = world.postmark.messages(recipient="owner@team.example")
    assert email["Subject"] == "Grace needs a call" and email["MessageStream"] == "outbound"
    assert world.subjects("grace@example.com") == []


async def test_notify_for_a_contact_without_an_owner_sends_nothing_and_the_run_goes_on(world: World) -> None:
    note = world.template("Nobody reads this")
    automation = world.automation(
        "No owner", then_tag({"id": "tell", "type": "notify", "template_id": note}, "went on")
    )
    contact = world.contact("orphan@example.com")
    workflow_id, outcome, _ = await run_through(world, automation, contact)
    assert outcome.status == "completed" and world.now(contact).tags == ["went on"]
    assert world.postmark.messages() == []
    # Nothing is written for a send that had no one to go to; the run's history says why.
    completed = [
        payload.data
        async for event in world.client.get_workflow_handle(workflow_id).fetch_history_events()
        if event.HasField("activity_task_completed_event_attributes")
        for payload in event.activity_task_completed_event_attributes.result.payloads
    ]
    assert any(b"no user to notify (user owner of contact" in data for data in completed)
