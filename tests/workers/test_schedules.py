"""The `nurture-date-triggers` Schedule on the real dev server: created once however often workers start,
kept paused when an operator paused it, and, when due, running that day's date triggers."""

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from nurture.automations.date_triggers import DateTriggerProgress
from nurture.db.models import Automation, AutomationRun, AutomationStatus, AutomationVersion, Contact
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings
from workers.registration import WorkerDeps, running_workers
from workers.schedules import CATCHUP_WINDOW, DATE_TRIGGERS_SCHEDULE, ensure_date_trigger_schedule


def _own_queues(settings: Settings, dev_server: WorkflowEnvironment) -> Settings:
    run = uuid.uuid4().hex[:8]
    return settings.model_copy(
        update={
            "temporal_address": dev_server.client.service_client.config.target_host,
            "task_queue": f"test-{run}",
            "email_task_queue": f"test-email-{run}",
        }
    )


@pytest.fixture
async def schedule(dev_server: WorkflowEnvironment) -> AsyncIterator[ScheduleHandle]:
    """The schedule's handle, with no schedule on the server before or after the test."""
    handle = dev_server.client.get_schedule_handle(DATE_TRIGGERS_SCHEDULE)

    async def delete() -> None:
        with contextlib.suppress(RPCError):  # there was none
            await handle.delete()

    await delete()
    yield handle
    await delete()


async def _ids(client: Client) -> list[str]:
    return [s.id async for s in await client.list_schedules() if s.id == DATE_TRIGGERS_SCHEDULE]


async def test_the_schedule_is_created_once_and_an_operators_pause_is_kept(
    settings: Settings, dev_server: WorkflowEnvironment, schedule: ScheduleHandle
) -> None:
    client = dev_server.client
    first = _own_queues(settings, dev_server)
    assert await ensure_date_trigger_schedule(client, first)
    created = await schedule.describe()
    action = created.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == ("DateTriggerWorkflow", first.task_queue)
    assert created.schedule.policy.overlap == ScheduleOverlapPolicy.BUFFER_ALL
    assert created.schedule.policy.catchup_window == CATCHUP_WINDOW
    # Daily at midnight UTC.
    upcoming = created.info.next_action_times[:3]
    assert all(t.time() == clock(0) and t.tzinfo is not None for t in upcoming)
    assert [b - a for a, b in zip(upcoming, upcoming[1:], strict=False)] == [timedelta(days=1)] * 2

    # Every worker start calls it again: the schedule stays the one created, untouched.
    assert await ensure_date_trigger_schedule(client, first)
    assert await ensure_date_trigger_schedule(client, first)
    again = await schedule.describe()
    assert again.info.created_at == created.info.created_at
    assert again.info.last_updated_at == created.info.last_updated_at
    # Listing is eventually consistent on the dev server.
    deadline = time.monotonic() + 10
    while (listed := await _ids(client)) != [DATE_TRIGGERS_SCHEDULE]:
        assert time.monotonic() < deadline, listed
        await asyncio.sleep(0.1)

    # An operator pauses it; a worker started on another task queue moves it there, still paused.
    await schedule.pause(note="holiday freeze")
    moved = _own_queues(settings, dev_server)
    assert await ensure_date_trigger_schedule(client, moved)
    updated = await schedule.describe()
    action = updated.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow) and action.task_queue == moved.task_queue
    assert updated.schedule.state.paused and updated.schedule.state.note == "holiday freeze"
    assert updated.info.created_at == created.info.created_at


async def _scheduled_run(client: Client, workflow_id: str, seconds: float = 30) -> WorkflowHandle[Any, Any]:
    deadline = time.monotonic() + seconds
    while True:
        handle = client.get_workflow_handle(workflow_id, result_type=DateTriggerProgress)
        try:
            await handle.describe()
            return handle
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        assert time.monotonic() < deadline, f"the schedule started no {workflow_id}"
        await asyncio.sleep(0.1)


async def test_a_due_day_of_the_schedule_enrolls_the_contacts_of_that_day(
    settings: Settings, dev_server: WorkflowEnvironment, schedule: ScheduleHandle
) -> None:
    client = dev_server.client
    settings = _own_queues(settings, dev_server)
    # A day of its own, so runs of this test on either database never share a workflow id.
    day = date(2040, 1, 1) + timedelta(days=secrets.randbelow(3650))
    sessions = session_factory(settings.resolved_database_url)
    with transaction(sessions) as session:
        due = Contact(email="due@example.com", custom_fields={"renewal_date": str(day + timedelta(14))})
        later = Contact(email="later@example.com", custom_fields={"renewal_date": str(day + timedelta(15))})
        automation = Automation(name="Renewal reminder", status=AutomationStatus.ACTIVE)
        session.add_all([due, later, automation])
        session.flush()
        definition = {
            "triggers": [{"type": "date", "field": "renewal_date", "offset_days": -14}],
            "steps": [{"id": "a-week", "type": "wait", "duration": "7d"}],
        }
        session.add(AutomationVersion(automation_id=automation.id, number=1, definition=definition))
        automation_id, due_id = automation.id, due.id

    async with running_workers(client, WorkerDeps(settings=settings)):
        # The workers created the schedule; that day comes round (a backfill is how an operator
        # runs a missed day by hand, and how the schedule's catch-up runs one).
        midnight = datetime.combine(day, clock(0), tzinfo=UTC)
        await schedule.backfill(
            ScheduleBackfill(start_at=midnight - timedelta(seconds=1), end_at=midnight + timedelta(seconds=1))
        )
        handle = await _scheduled_run(client, f"date-triggers-{day.isoformat()}T00:00:00Z")
        progress: DateTriggerProgress = await handle.result()
        with sessions() as session:
            runs = list(
                session.scalars(select(AutomationRun).where(AutomationRun.automation_id == automation_id))
            )

    # The day is the schedule's, not the clock's: the workflow was given no day.
    assert progress.day == day and progress.done
    [enrollment] = progress.enrollments
    assert (enrollment.automation_id, enrollment.started, enrollment.refused) == (automation_id, 1, {})
    assert [run.contact_id for run in runs] == [due_id]
    # Operators find the day's run in the Temporal UI by its kind.
    found = [
        w.id
        async for w in client.list_workflows(f"WorkflowId = '{handle.id}' AND NurtureKind = 'date_triggers'")
    ]
    assert found == [handle.id]
