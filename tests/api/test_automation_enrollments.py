"""Enrollments, pause and resume, and migration through the API: what is refused and why (with Temporal
down), and on the real dev server with a worker: one contact's run, a list in the background with
progress, runs told to pause and resume, and a run moved to a new version."""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from nurture.automations.runs import RunView
from nurture.crud.api_keys import create_api_key
from nurture.db.models import AutomationRun, AutomationVersion, RunStatus
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings
from nurture.temporal import search_attributes
from workers.registration import ACTIVITY_THREADS, WorkerDeps, build_worker

STEPS: list[dict[str, Any]] = [
    {"id": "a-month", "type": "wait", "duration": "30d"},
    {"id": "tagged", "type": "tag", "add": ["dripped"]},
]


def _created(response: httpx.Response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def _automation(api: TestClient, status: str = "active") -> int:
    body = {"name": f"Drip {uuid.uuid4().hex[:6]}", "definition": {"steps": STEPS}, "status": status}
    return int(_created(api.post("/automations", json=body))["id"])


def _contact(api: TestClient, email: str, **extra: Any) -> int:
    return int(_created(api.post("/contacts", json={"email": email, **extra}))["id"])


def _runs(settings: Settings) -> int:
    with session_factory(settings.resolved_database_url)() as session:
        return session.scalar(select(func.count()).select_from(AutomationRun)) or 0


# Refusals: none of these reach Temporal (which the `api` fixture points nowhere).


def test_an_enrollment_names_what_is_wrong_with_it(api: TestClient, settings: Settings) -> None:
    automation = _automation(api)
    url = f"/automations/{automation}/enrollments"
    contact = _contact(api, "ada@example.com")
    for body in [{}, {"contact_id": contact, "list_id": 1}]:
        problem = _problem(api.post(url, json=body), 422)
        assert problem["errors"][0]["message"] == "give exactly one of contact_id, list_id or filter"
    problem = _problem(api.post(url, json={"filter": {}}), 422)
    assert problem["errors"] == [
        {"field": "filter", "message": "give at least one of tag, status, list_id or q"}
    ]
    assert _problem(api.post(url, json={"filter": {"status": "asleep"}}), 422)["errors"][0]["field"] == (
        "filter.status"
    )
    assert _problem(api.post(url, json={"contact_id": 999}), 422)["detail"] == (
        "contact_id: contact 999 does not exist"
    )
    assert _problem(api.post(url, json={"list_id": 999}), 422)["detail"] == "list_id: list 999 does not exist"
    assert _problem(api.post(url, json={"filter": {"list_id": 999}}), 422)["detail"] == (
        "filter.list_id: list 999 does not exist"
    )
    assert _problem(api.post("/automations/999/enrollments", json={"contact_id": contact}), 404)
    assert _runs(settings) == 0


def test_only_an_active_automation_takes_enrollments(api: TestClient, settings: Settings) -> None:
    draft = _automation(api, status="draft")
    contact = _contact(api, "ada@example.com")
    for body in [{"contact_id": contact}, {"filter": {"tag": "vip"}}]:
        problem = _problem(api.post(f"/automations/{draft}/enrollments", json=body), 409)
        assert (
            problem["detail"] == f"automation {draft} is draft; only an active automation takes enrollments"
        )
    api.post(f"/automations/{draft}/activate")
    api.post(f"/automations/{draft}/pause")
    problem = _problem(api.post(f"/automations/{draft}/enrollments", json={"contact_id": contact}), 409)
    assert problem["detail"].startswith(f"automation {draft} is paused;")
    # Active, but Temporal is down: 503 naming it, and no run row is left behind.
    api.post(f"/automations/{draft}/resume")
    problem = _problem(api.post(f"/automations/{draft}/enrollments", json={"contact_id": contact}), 503)
    assert problem["detail"].startswith("Cannot reach Temporal")
    assert _runs(settings) == 0


def test_pausing_commits_even_when_the_runs_cannot_be_told(api: TestClient, settings: Settings) -> None:
    automation = _automation(api)
    contact = _contact(api, "ada@example.com")
    paused = api.post(f"/automations/{automation}/pause")
    assert paused.status_code == 200, paused.text
    # No running runs: nothing to tell, and Temporal is not needed.
    assert (paused.json()["status"], paused.json()["signalled"], paused.json()["warning"]) == (
        "paused",
        0,
        None,
    )
    with transaction(session_factory(settings.resolved_database_url)) as session:
        version_id = session.scalar(
            select(AutomationVersion.id).where(AutomationVersion.automation_id == automation)
        )
        session.add(
            AutomationRun(
                automation_id=automation,
                version_id=version_id,
                contact_id=contact,
                workflow_id=f"automation:{automation}:contact:{contact}",
                status=RunStatus.RUNNING,
            )
        )
    resumed = api.post(f"/automations/{automation}/resume")
    assert resumed.status_code == 200, resumed.text
    body = resumed.json()
    assert (body["status"], body["signalled"]) == ("active", 0)
    assert body["warning"].startswith("the running runs were not signalled to resume: Cannot reach Temporal")
    assert api.get(f"/automations/{automation}").json()["status"] == "active"


def test_migration_and_progress_refusals(api: TestClient) -> None:
    automation = _automation(api)
    problem = _problem(api.post(f"/automations/{automation}/migrate", json={"to_version": 7}), 422)
    assert problem["errors"] == [
        {"field": "to_version", "message": f"to_version: automation {automation} has no version 7"}
    ]
    # Another automation's enrollment is not this one's.
    _problem(api.get(f"/automations/{automation}/enrollments/enrollment:{automation + 1}:x"), 404)


# On the real dev server, with a worker.


@dataclass
class Live:
    api: TestClient
    settings: Settings
    client: Client

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        # The TestClient blocks; run it off the loop the in-process worker polls on.
        return await asyncio.to_thread(self.api.request, method, url, **kwargs)

    async def state(self, workflow_id: str) -> RunView:
        return await self.client.get_workflow_handle(workflow_id).query("state", result_type=RunView)

    async def until(self, workflow_id: str, step: str, *, paused: bool | None = None) -> RunView:
        view: RunView | None = None
        for _ in range(200):
            with contextlib.suppress(RPCError):
                view = await self.state(workflow_id)
                if view.current_step == step and (paused is None or view.paused == paused):
                    return view
            await asyncio.sleep(0.05)
        raise AssertionError(f"{workflow_id} never reached {step} (paused={paused}): {view}")


@pytest.fixture
def live_api(settings: Settings, dev_server: WorkflowEnvironment) -> Iterator[tuple[TestClient, Settings]]:
    run = uuid.uuid4().hex[:8]
    settings = settings.model_copy(
        update={
            "temporal_address": dev_server.client.service_client.config.target_host,
            "task_queue": f"test-{run}",
            "email_task_queue": f"test-email-{run}",
        }
    )
    with transaction(session_factory(settings.resolved_database_url)) as session:
        _, key = create_api_key(session, name="tests")
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {key}"}) as api:
        yield api, settings


@pytest.fixture
async def live(live_api: tuple[TestClient, Settings], dev_server: WorkflowEnvironment) -> AsyncIterator[Live]:
    api, settings = live_api
    client = dev_server.client
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(
            client, WorkerDeps(settings=settings), executor=executor, task_queue=settings.task_queue
        ):
            yield Live(api, settings, client)


async def test_one_contact_is_enrolled_now_then_paused_resumed_and_migrated(live: Live) -> None:
    automation = _automation(live.api)
    contact = _contact(live.api, "ada@example.com")
    url = f"/automations/{automation}/enrollments"

    run = _created(await live.call("POST", url, json={"contact_id": contact}))
    workflow_id = f"automation:{automation}:contact:{contact}"
    assert (run["workflow_id"], run["contact_id"], run["version"], run["status"]) == (
        workflow_id,
        contact,
        1,
        "running",
    )
    assert run["ui_url"].endswith(f"/workflows/automation%3A{automation}%3Acontact%3A{contact}")
    description = await live.client.get_workflow_handle(workflow_id).describe()
    assert description.typed_search_attributes.get(search_attributes.KIND) == "automation"
    await live.until(workflow_id, "a-month")

    again = _problem(await live.call("POST", url, json={"contact_id": contact}), 409)
    assert again["detail"] == (
        f"contact {contact} was not enrolled: the contact has entered this automation before (entry: once)"
    )

    paused = await live.call("POST", f"/automations/{automation}/pause")
    assert (paused.json()["status"], paused.json()["signalled"], paused.json()["warning"]) == (
        "paused",
        1,
        None,
    )
    assert (await live.until(workflow_id, "a-month", paused=True)).paused
    resumed = await live.call("POST", f"/automations/{automation}/resume")
    assert (resumed.json()["status"], resumed.json()["signalled"]) == ("active", 1)
    assert not (await live.until(workflow_id, "a-month", paused=False)).paused

    # Version 2 keeps the step the run waits at: the run moves, and its row says so.
    steps = [STEPS[0], {"id": "tagged", "type": "tag", "add": ["dripped-v2"]}]
    _created(
        await live.call("POST", f"/automations/{automation}/versions", json={"definition": {"steps": steps}})
    )
    moved = await live.call("POST", f"/automations/{automation}/migrate")
    assert moved.status_code == 200, moved.text
    assert moved.json() == {
        "version": 2,
        "moved": [{"run_id": run["id"], "workflow_id": workflow_id, "step": "a-month"}],
        "not_moved": [],
    }
    assert (await live.state(workflow_id)).version_number == 2
    runs = (await live.call("GET", f"/automations/{automation}/runs")).json()["data"]
    assert [r["version"] for r in runs] == [2]


async def test_a_filtered_set_is_enrolled_in_the_background_with_progress(live: Live) -> None:
    automation = _automation(live.api)
    for n in range(6):
        _contact(live.api, f"c{n}@example.com", tags=["vip"] if n % 2 else [])
    first = _created(
        await live.call("POST", "/contacts", json={"email": "early@example.com", "tags": ["vip"]})
    )
    # One of them is in already: the bulk run refuses it by the entry rule.
    _created(
        await live.call("POST", f"/automations/{automation}/enrollments", json={"contact_id": first["id"]})
    )

    accepted = await live.call(
        "POST", f"/automations/{automation}/enrollments", json={"filter": {"tag": "VIP"}}
    )
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["id"].startswith(f"enrollment:{automation}:")
    assert accepted.headers["location"] == body["progress_url"]
    description = await live.client.get_workflow_handle(body["id"]).describe()
    assert description.typed_search_attributes.get(search_attributes.KIND) == "enrollment"

    deadline = time.monotonic() + 30
    while True:
        progress = await live.call("GET", body["progress_url"])
        assert progress.status_code == 200, progress.text
        if progress.json()["done"] or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    report = progress.json()
    assert (report["status"], report["done"], report["started"], report["refused"], report["failed"]) == (
        "completed",
        True,
        3,
        {"once": 1},
        0,
    )
    assert (report["refused_total"], report["contacts_seen"], report["automation_id"]) == (1, 4, automation)
    runs = (await live.call("GET", f"/automations/{automation}/runs")).json()["data"]
    assert len(runs) == 4
