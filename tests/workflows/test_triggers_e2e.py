"""Triggers, events and webhooks driving automation runs on the real dev server, through the API:
a subscription starts a run, a Postmark open webhook moves it on within seconds, a cart event starts
one run per cart, an exit event and a tag end runs where they wait."""

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from nurture.automations.runs import RunView
from nurture.crud.api_keys import create_api_key
from nurture.crud.templates import create_template
from nurture.db.models import AutomationRun, Contact, RunStatus
from nurture.db.session import session_factory, transaction
from nurture.postmark_server import RunningServer
from nurture.schemas.email import METADATA_KEY, TemplateKind
from nurture.settings import Settings
from tests.isolated import isolated
from workers.registration import WorkerDeps, running_workers

OPEN = Path(__file__).parent.parent / "fixtures" / "postmark" / "open.json"


@dataclass
class Stack:
    settings: Settings
    api: TestClient
    postmark: RunningServer
    env: WorkflowEnvironment
    run: str

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        # The TestClient blocks (background tasks included); keep it off the loop the worker polls on.
        return await asyncio.to_thread(self.api.request, method, path, **kwargs)

    async def created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.call("POST", path, json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def automation(self, name: str, definition: dict[str, Any]) -> int:
        body = {"name": f"{name} {self.run}", "status": "active", "definition": definition}
        return int((await self.created("/automations", body))["id"])

    def runs(self, automation_id: int) -> list[AutomationRun]:
        with session_factory(self.settings.resolved_database_url)() as session:
            query = select(AutomationRun).where(AutomationRun.automation_id == automation_id)
            return list(session.scalars(query.order_by(AutomationRun.id)))

    async def until_run(self, automation_id: int, status: RunStatus, seconds: float = 10) -> AutomationRun:
        deadline = time.monotonic() + seconds
        while True:
            runs = self.runs(automation_id)
            if runs and runs[-1].status == status:
                return runs[-1]
            assert time.monotonic() < deadline, f"no {status.value} run of {automation_id}: {runs}"
            await asyncio.sleep(0.05)

    async def until_arrived(self, email: str, count: int, seconds: float = 15) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while len(arrived := self.postmark.messages(recipient=email)) < count:
            assert time.monotonic() < deadline, f"{len(arrived)} of {count} emails arrived for {email}"
            await asyncio.sleep(0.01)
        return arrived

    def handle(self, workflow_id: str) -> WorkflowHandle[Any, Any]:
        return self.env.client.get_workflow_handle(workflow_id)


@pytest.fixture
def stack(
    settings: Settings, dev_server: WorkflowEnvironment, postmark_server: RunningServer
) -> Iterator[Stack]:
    run = uuid.uuid4().hex[:8]
    settings = isolated(
        settings, postmark_server, temporal_address=dev_server.client.service_client.config.target_host
    )
    with transaction(session_factory(settings.resolved_database_url)) as session:
        _, key = create_api_key(session, name="tests")
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {key}"}) as api:
        yield Stack(settings, api, postmark_server, dev_server, run)


@pytest.fixture
async def worker(stack: Stack, dev_server: WorkflowEnvironment) -> AsyncIterator[None]:
    async with running_workers(dev_server.client, WorkerDeps(settings=stack.settings)):
        yield


async def _history_has(
    handle: WorkflowHandle[Any, Any], event_type: EventType.ValueType, seconds: float = 30
) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if any([e.event_type == event_type async for e in handle.fetch_history_events()]):
            return
        assert time.monotonic() < deadline, f"{handle.id} has no {EventType.Name(event_type)}"
        await asyncio.sleep(0.05)


def _basic(settings: Settings) -> dict[str, str]:
    token = base64.b64encode(f"{settings.webhook_username}:{settings.webhook_password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_a_subscription_starts_a_run_and_an_open_webhook_sends_the_next_email(
    stack: Stack, worker: None
) -> None:
    list_id = (await stack.created("/lists", {"name": f"Newsletter {stack.run}"}))["id"]
    with transaction(session_factory(stack.settings.resolved_database_url)) as session:
        welcome, thanks = (
            create_template(
                session,
                name=f"{name} {stack.run}",
                kind=TemplateKind.MARKETING,
                subject=subject,
                html_body=body,
            ).id
            for name, subject, body in [
                ("welcome", "Welcome, {{ contact.first_name }}", "<p>Hello {{ contact.first_name }}</p>"),
                ("thanks", "Thanks for opening", "<p>Glad you read it.</p>"),
            ]
        )
    automation_id = await stack.automation(
        "Welcome",
        {
            "triggers": [{"type": "list_subscribed", "list_id": list_id}],
            "steps": [
                {"id": "welcome", "type": "send_email", "template_id": welcome, "list_id": list_id},
                {
                    "id": "wait-open",
                    "type": "wait_for",
                    "condition": {"type": "email", "did": "opened", "step": "welcome"},
                    "timeout": "1h",
                    "on_timeout": "done",
                },
                {"id": "thanks", "type": "send_email", "template_id": thanks, "list_id": list_id},
                {"id": "done", "type": "end"},
            ],
        },
    )
    email = f"ada-{stack.run}@example.com"
    contact_id = (await stack.created("/contacts", {"email": email, "first_name": "Ada"}))["id"]
    assert stack.runs(automation_id) == []

    subscribed = await stack.created(
        f"/lists/{list_id}/subscriptions", {"contact_id": contact_id, "status": "subscribed"}
    )
    assert subscribed["status"] == "subscribed"
    [run] = stack.runs(automation_id)
    assert run.workflow_id == f"automation:{automation_id}:contact:{contact_id}"
    [welcome_email] = await stack.until_arrived(email, 1)
    assert welcome_email["Subject"] == "Welcome, Ada"

    handle = stack.handle(run.workflow_id)
    # Waiting for the open: the wait_for step's timeout timer is running.
    await _history_has(handle, EventType.EVENT_TYPE_TIMER_STARTED)
    view: RunView = await handle.query("state", result_type=RunView)
    assert view.current_step == "wait-open"
    key = view.sends["welcome"].key
    listed = (await stack.call("GET", "/messages", params={"key": key})).json()["data"]
    [message] = listed
    assert message["provider_message_id"] == welcome_email["MessageID"]

    # A person opens later than a scanner at delivery: an open within 2 s of sending counts as a
    # machine's, which the wait (without include_machine) rightly ignores.
    sent_at = datetime.fromisoformat(message["sent_at"])
    await asyncio.sleep(max(0.0, 2.5 - (datetime.now(UTC) - sent_at).total_seconds()))
    payload = json.loads(OPEN.read_text())
    payload.update(
        MessageID=message["provider_message_id"],
        Metadata={METADATA_KEY: message["key"]},
        Recipient=email,
        MessageStream=message["stream"],
        ReceivedAt=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    )
    started = time.perf_counter()
    webhook = await stack.call("POST", "/webhooks/postmark", json=payload, headers=_basic(stack.settings))
    answered = time.perf_counter() - started
    assert webhook.status_code == 200, webhook.text
    assert webhook.json()["recorded"] is True and webhook.json()["event"] == "opened"
    emails = await stack.until_arrived(email, 2, seconds=5)
    latency = time.perf_counter() - started
    print(
        f"\nopen webhook -> 'thanks' email arrived: {latency * 1000:.0f} ms "
        f"(the webhook call, with its after-response signal, took {answered * 1000:.0f} ms)"
    )
    assert [e["Subject"] for e in reversed(emails)] == ["Welcome, Ada", "Thanks for opening"]
    assert latency < 5

    finished = await stack.until_run(automation_id, RunStatus.COMPLETED)
    assert finished.current_step == "done"
    # The repeat Postmark sends when it sees no 200 in time changes nothing.
    again = await stack.call("POST", "/webhooks/postmark", json=payload, headers=_basic(stack.settings))
    assert again.json()["repeat"] is True
    assert len(stack.postmark.messages(recipient=email)) == 2


async def test_a_cart_event_starts_one_run_per_cart_and_checkout_ends_them(
    stack: Stack, worker: None
) -> None:
    automation_id = await stack.automation(
        "Abandoned carts",
        {
            "triggers": [{"type": "event", "name": "cart_abandoned", "properties": {"channel": "web"}}],
            "entry": {"mode": "per_value", "property": "cart_id"},
            "exits": [{"type": "event", "name": "checkout_completed"}],
            "steps": [
                {"id": "wait-1h", "type": "wait", "duration": "1h"},
                {"id": "remind", "type": "tag", "add": ["abandoned cart"]},
            ],
        },
    )
    contact_id = (await stack.created("/contacts", {"email": f"bo-{stack.run}@example.com"}))["id"]

    async def cart(cart_id: str, channel: str = "web") -> dict[str, Any]:
        properties = {"cart_id": cart_id, "channel": channel}
        return await stack.created(
            "/events", {"contact_id": contact_id, "name": "cart_abandoned", "properties": properties}
        )

    first = await cart("A")
    [started_a] = first["started"]
    assert started_a["automation_id"] == automation_id and first["refused"] == []
    assert started_a["workflow_id"].startswith(f"automation:{automation_id}:contact:{contact_id}:v-")
    second = await cart("B")
    [started_b] = second["started"]
    assert started_b["workflow_id"] != started_a["workflow_id"]
    # Cart A's run is told of cart B's event: it is running, and any event may be an exit.
    assert second["signalled"] == [started_a["workflow_id"]]
    again = await cart("A")
    assert again["started"] == []
    assert again["refused"] == [
        {"automation_id": automation_id, "reason": "the contact already has a run for cart_id 'A'"}
    ]
    assert (await cart("C", channel="app"))["started"] == []
    # The event that started a run reached it with the start (signal-with-start).
    await _history_has(
        stack.handle(started_a["workflow_id"]), EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    )
    assert [run.entry_value for run in stack.runs(automation_id)] == ["A", "B"]

    checkout = await stack.created("/events", {"contact_id": contact_id, "name": "checkout_completed"})
    assert checkout["signalled"] == [started_a["workflow_id"], started_b["workflow_id"]]
    assert checkout["started"] == [] and checkout["temporal_error"] is None
    # Generous: under a loaded CI machine the exits take longer than the milliseconds they take here.
    deadline = time.monotonic() + 30
    while {run.status for run in stack.runs(automation_id)} != {RunStatus.EXITED}:
        assert time.monotonic() < deadline, [
            (r.id, r.workflow_id, r.status, r.outcome, r.current_step) for r in stack.runs(automation_id)
        ]
        await asyncio.sleep(0.05)
    assert {run.outcome for run in stack.runs(automation_id)} == {"exit: event checkout_completed"}

    # A run whose row still says running though its workflow has ended (as between its last
    # step and the row's update) is reported as not running, and is not an error.
    with transaction(session_factory(stack.settings.resolved_database_url)) as session:
        row = session.scalar(
            select(AutomationRun).where(AutomationRun.workflow_id == started_a["workflow_id"])
        )
        assert row is not None
        row.status = RunStatus.RUNNING
    late = await stack.created("/events", {"contact_id": contact_id, "name": "checkout_completed"})
    assert late["not_running"] == [started_a["workflow_id"]]
    assert late["signalled"] == [] and late["temporal_error"] is None
    with transaction(session_factory(stack.settings.resolved_database_url)) as session:
        row = session.scalar(
            select(AutomationRun).where(AutomationRun.workflow_id == started_a["workflow_id"])
        )
        assert row is not None
        row.status = RunStatus.EXITED


async def test_tags_and_field_changes_start_runs_and_a_tag_exit_ends_one(stack: Stack, worker: None) -> None:
    wait = [{"id": "wait-1d", "type": "wait", "duration": "1d"}]
    trial = await stack.automation(
        "Trial",
        {
            "triggers": [{"type": "tag_added", "tag": "trial"}],
            "exits": [{"type": "tag_added", "tag": "customer"}],
            "steps": wait,
        },
    )
    upgraded = await stack.automation(
        "Upgraded", {"triggers": [{"type": "field_changed", "field": "plan", "to": "pro"}], "steps": wait}
    )
    contact = await stack.created("/contacts", {"email": f"cy-{stack.run}@example.com", "tags": ["Trial"]})
    trial_run = await stack.until_run(trial, RunStatus.RUNNING)
    assert trial_run.contact_id == contact["id"]

    patched = await stack.call(
        "PATCH", f"/contacts/{contact['id']}", json={"custom_fields": {"plan": "team"}}
    )
    assert patched.status_code == 200, patched.text
    assert stack.runs(upgraded) == []
    await stack.call("PATCH", f"/contacts/{contact['id']}", json={"custom_fields": {"plan": "pro"}})
    await stack.until_run(upgraded, RunStatus.RUNNING)

    # The exit is a tag: only the contact_changed signal can end the run before its day-long wait.
    await _history_has(stack.handle(trial_run.workflow_id), EventType.EVENT_TYPE_TIMER_STARTED)
    tagged = await stack.call("POST", f"/contacts/{contact['id']}/tags", json={"tags": ["customer"]})
    assert tagged.status_code == 200, tagged.text
    exited = await stack.until_run(trial, RunStatus.EXITED, seconds=5)
    assert exited.outcome == "exit: tagged customer"
    assert [run.status for run in stack.runs(upgraded)] == [RunStatus.RUNNING]


async def test_a_csv_import_starts_the_runs_of_its_list_and_tags(stack: Stack, worker: None) -> None:
    list_id = (await stack.created("/lists", {"name": f"Imported {stack.run}"}))["id"]
    wait = [{"id": "wait-1d", "type": "wait", "duration": "1d"}]
    welcome = await stack.automation(
        "Imported welcome", {"triggers": [{"type": "list_subscribed", "list_id": list_id}], "steps": wait}
    )
    webinar = await stack.automation(
        "Webinar", {"triggers": [{"type": "tag_added", "tag": "webinar"}], "steps": wait}
    )
    csv = (
        f"email,first_name,tags\nann-{stack.run}@example.com,Ann,webinar\nben-{stack.run}@example.com,Ben,\n"
    )
    response = await stack.call(
        "POST",
        "/contacts/import",
        files={"file": ("people.csv", csv.encode(), "text/csv")},
        data={"list_id": str(list_id)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
    with session_factory(stack.settings.resolved_database_url)() as session:
        emails = dict(session.execute(select(Contact.id, Contact.email)).all())
    assert sorted(emails[run.contact_id] for run in stack.runs(welcome)) == [
        f"ann-{stack.run}@example.com",
        f"ben-{stack.run}@example.com",
    ]
    assert [emails[run.contact_id] for run in stack.runs(webinar)] == [f"ann-{stack.run}@example.com"]
    assert {run.status for run in stack.runs(welcome) + stack.runs(webinar)} == {RunStatus.RUNNING}
