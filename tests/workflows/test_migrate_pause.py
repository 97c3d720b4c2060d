"""Pause, resume and migration of running runs on the time-skipping server: a paused run holds its next
send however long it waits and sends it once on resume; migration moves a waiting run to the new
version's steps and leaves a run whose step the new version lacks where it is, saying why."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from nurture.automations import control
from nurture.automations.enroll import enroll
from nurture.automations.runs import RunOutcome, RunView
from nurture.crud.templates import create_template
from nurture.db.models import (
    Automation,
    AutomationRun,
    AutomationStatus,
    AutomationVersion,
    Contact,
    RunStatus,
)
from nurture.db.session import session_factory, transaction
from nurture.postmark_server import RunningServer
from nurture.schemas.email import TemplateKind
from nurture.settings import Settings
from tests.isolated import isolated
from workers.registration import WorkerDeps, running_workers


@dataclass
class Runs:
    env: WorkflowEnvironment
    settings: Settings
    sessions: sessionmaker[Session]
    postmark: RunningServer
    templates: dict[str, int]
    run: str

    @property
    def client(self) -> Client:
        return self.env.client

    def automation(self, steps: list[dict[str, Any]]) -> int:
        with transaction(self.sessions) as session:
            automation = Automation(name=f"Drip {uuid.uuid4().hex[:8]}", status=AutomationStatus.ACTIVE)
            session.add(automation)
            session.flush()
            session.add(AutomationVersion(automation_id=automation.id, number=1, definition={"steps": steps}))
            return automation.id

    def version(self, automation_id: int, number: int, steps: list[dict[str, Any]]) -> int:
        with transaction(self.sessions) as session:
            version = AutomationVersion(
                automation_id=automation_id, number=number, definition={"steps": steps}
            )
            session.add(version)
            session.flush()
            return version.id

    async def enroll(self, automation_id: int, email: str) -> WorkflowHandle[Any, Any]:
        with transaction(self.sessions) as session:
            contact = Contact(email=email, first_name="Ada")
            session.add(contact)
            session.flush()
            contact_id = contact.id
        enrollment = await enroll(
            self.client,
            self.sessions,
            self.settings,
            automation_id=automation_id,
            contact_id=contact_id,
            index=False,  # the time-skipping server has no custom search attributes
        )
        assert enrollment.started and enrollment.handle is not None, enrollment.reason
        return enrollment.handle

    def subjects(self, email: str) -> list[str]:
        return [m["Subject"] for m in reversed(self.postmark.messages(recipient=email))]

    def row(self, workflow_id: str) -> AutomationRun:
        with self.sessions() as session:
            row = session.scalar(select(AutomationRun).where(AutomationRun.workflow_id == workflow_id))
            assert row is not None
            return row


async def _world(
    settings: Settings, env: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[Runs]:
    run = uuid.uuid4().hex[:8]
    settings = isolated(settings, postmark_server)
    sessions = session_factory(settings.resolved_database_url)
    with transaction(sessions) as session:
        templates = {
            name: create_template(
                session,
                name=name,
                kind=TemplateKind.MARKETING,
                subject=subject,
                html_body=f"<p>{subject}</p>",
            ).id
            for name, subject in [
                ("news", "This week's news"),
                ("first", "Welcome aboard"),
                ("offer", "An offer for you"),
                ("last", "Last call"),
            ]
        }
    async with running_workers(env.client, WorkerDeps(settings=settings)):
        yield Runs(env, settings, sessions, postmark_server, templates, run)


@pytest.fixture
async def runs(
    settings: Settings, time_skipping: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[Runs]:
    """Workers on the time-skipping server, templates, and the local Postmark server."""
    async for world in _world(settings, time_skipping, postmark_server):
        yield world


async def _until(handle: WorkflowHandle[Any, Any], step: str, *, paused: bool | None = None) -> None:
    view: RunView | None = None
    for _ in range(300):
        view = await handle.query("state", result_type=RunView)
        if view.current_step == step and (paused is None or view.paused == paused):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the run never reached {step}; it is at {view and view.current_step}")


async def test_a_paused_run_holds_its_send_and_resuming_sends_it_once(runs: Runs) -> None:
    automation_id = runs.automation(
        [
            {"id": "a-day", "type": "wait", "duration": "1d"},
            {"id": "news", "type": "send_email", "template_id": runs.templates["news"]},
        ]
    )
    handle = await runs.enroll(automation_id, "held@example.com")
    await _until(handle, "a-day")

    paused = await control.signal_runs(
        runs.client, runs.sessions, automation_id=automation_id, signal="pause"
    )
    assert (paused.signalled, paused.ended, paused.error) == (1, 0, None)
    await runs.env.sleep(timedelta(days=2))
    # The day is over and the run is at its send, held there.
    await _until(handle, "news", paused=True)
    await asyncio.sleep(1)
    assert runs.subjects("held@example.com") == []

    resumed = await control.signal_runs(
        runs.client, runs.sessions, automation_id=automation_id, signal="resume"
    )
    assert resumed.signalled == 1
    outcome: RunOutcome = await handle.result()
    assert outcome.status == "completed"
    assert runs.subjects("held@example.com") == ["This week's news"]

    # A run that ended after its row was read is not an error: it is counted as ended.
    with transaction(runs.sessions) as session:
        row = session.scalar(select(AutomationRun).where(AutomationRun.workflow_id == handle.id))
        assert row is not None and row.status == RunStatus.COMPLETED
        row.status = RunStatus.RUNNING
    late = await control.signal_runs(runs.client, runs.sessions, automation_id=automation_id, signal="pause")
    assert (late.signalled, late.ended, late.error) == (0, 1, None)


async def _two_runs(runs: Runs) -> tuple[int, WorkflowHandle[Any, Any], WorkflowHandle[Any, Any]]:
    """An automation on version 1 with one contact past its first email, waiting at `linger`, and one
    waiting at `a-day`."""
    t = runs.templates
    automation_id = runs.automation(
        [
            {"id": "a-day", "type": "wait", "duration": "1d"},
            {"id": "first", "type": "send_email", "template_id": t["first"]},
            {"id": "linger", "type": "wait", "duration": "10d"},
            {"id": "last", "type": "send_email", "template_id": t["last"]},
        ]
    )
    ahead = await runs.enroll(automation_id, "ahead@example.com")
    await _until(ahead, "a-day")
    await runs.env.sleep(timedelta(days=1, hours=1))
    await _until(ahead, "linger")
    behind = await runs.enroll(automation_id, "behind@example.com")
    await _until(behind, "a-day")
    return automation_id, ahead, behind


async def test_migration_moves_a_waiting_run_and_reports_the_one_whose_step_is_gone(runs: Runs) -> None:
    automation_id, ahead, behind = await _two_runs(runs)
    # Version 2 drops `linger`, and its step after the day sends the offer instead of the welcome.
    v2 = runs.version(
        automation_id,
        2,
        [
            {"id": "a-day", "type": "wait", "duration": "1d"},
            {"id": "first", "type": "send_email", "template_id": runs.templates["offer"]},
        ],
    )
    report = await control.migrate_runs(runs.client, runs.sessions, automation_id=automation_id)
    assert report.version == 2
    assert [(m.workflow_id, m.step) for m in report.moved] == [(behind.id, "a-day")]
    assert [(n.workflow_id, n.reason) for n in report.not_moved] == [
        (ahead.id, "version 2 has no step 'linger', where the run is")
    ]
    assert runs.row(behind.id).version_id == v2
    assert runs.row(ahead.id).version_id != v2

    # Nothing more to move: the moved run is on version 2 and the other is refused again.
    again = await control.migrate_runs(runs.client, runs.sessions, automation_id=automation_id, to_version=2)
    assert again.moved == [] and [n.workflow_id for n in again.not_moved] == [ahead.id]

    await behind.result()
    assert runs.subjects("behind@example.com") == ["An offer for you"]
    view: RunView = await behind.query("state", result_type=RunView)
    assert view.version_number == 2
    # The run left behind carries on through version 1.
    await ahead.result()
    assert runs.subjects("ahead@example.com") == ["Welcome aboard", "Last call"]


@pytest.fixture
async def live_runs(
    settings: Settings, dev_server: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[Runs]:
    """The same, on the real dev server: a run stuck on a failing task cannot hold up other tests there."""
    async for world in _world(settings, dev_server, postmark_server):
        yield world


async def test_a_run_moved_during_a_wait_goes_on_to_the_new_versions_next_step(live_runs: Runs) -> None:
    runs = live_runs
    automation_id = runs.automation(
        [
            {"id": "a-moment", "type": "wait", "duration": "3s"},
            {"id": "first", "type": "send_email", "template_id": runs.templates["first"]},
        ]
    )
    handle = await runs.enroll(automation_id, f"moved-{runs.run}@example.com")
    await _until(handle, "a-moment")
    runs.version(
        automation_id,
        2,
        [
            {"id": "a-moment", "type": "wait", "duration": "3s"},
            {"id": "offer", "type": "send_email", "template_id": runs.templates["offer"]},
        ],
    )
    report = await control.migrate_runs(runs.client, runs.sessions, automation_id=automation_id)
    assert [m.workflow_id for m in report.moved] == [handle.id]
    for _ in range(150):
        if runs.subjects(f"moved-{runs.run}@example.com"):
            break
        await asyncio.sleep(0.1)
    assert runs.subjects(f"moved-{runs.run}@example.com") == ["An offer for you"]
