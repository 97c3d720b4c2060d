"""Enrolling many contacts at once: one plan for them all, each contact's own outcome, no stray rows."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, select
from temporalio.testing import WorkflowEnvironment

from nurture.automations.enroll import Enrollment, enroll_many
from nurture.db.models import Automation, AutomationRun, AutomationStatus, AutomationVersion, Contact
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings
from workers.registration import WorkerDeps, running_workers


def _automation_and_contacts(settings: Settings, *emails: str) -> tuple[int, list[int]]:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        automation = Automation(name="Welcome", status=AutomationStatus.ACTIVE)
        contacts = [Contact(email=email) for email in emails]
        session.add_all([automation, *contacts])
        session.flush()
        steps = [{"id": "wait", "type": "wait", "duration": "30d"}]
        session.add(
            AutomationVersion(
                automation_id=automation.id,
                number=1,
                definition={"triggers": [{"type": "manual"}], "steps": steps},
            )
        )
        return automation.id, [contact.id for contact in contacts]


def _runs(settings: Settings, automation_id: int) -> list[tuple[int, str]]:
    with session_factory(settings.resolved_database_url)() as session:
        rows = session.execute(
            select(AutomationRun.contact_id, AutomationRun.workflow_id)
            .where(AutomationRun.automation_id == automation_id)
            .order_by(AutomationRun.contact_id)
        )
        return [(contact_id, workflow_id) for contact_id, workflow_id in rows]


@pytest.fixture
async def worked(settings: Settings, time_skipping: WorkflowEnvironment) -> AsyncIterator[Settings]:
    """Settings whose task queue has workers: a run no worker takes holds the test server's clock."""
    run = uuid.uuid4().hex[:8]
    settings = settings.model_copy(update={"task_queue": f"t-{run}", "email_task_queue": f"e-{run}"})
    async with running_workers(time_skipping.client, WorkerDeps(settings=settings)):
        yield settings


async def test_each_contact_gets_its_own_outcome_and_only_started_runs_keep_a_row(
    worked: Settings, time_skipping: WorkflowEnvironment
) -> None:
    settings = worked
    automation_id, (ada, bob) = _automation_and_contacts(settings, "ada@example.com", "bob@example.com")
    sessions = session_factory(settings.resolved_database_url)

    outcomes = await enroll_many(
        time_skipping.client,
        sessions,
        settings,
        automation_id=automation_id,
        contact_ids=[ada, 999_999, bob, ada],
        index=False,
    )

    assert all(isinstance(o, Enrollment) for o in outcomes)
    assert [(o.started, o.reason) for o in outcomes if isinstance(o, Enrollment)] == [
        (True, None),
        (False, "contact 999999 does not exist"),
        (True, None),
        # Given twice: the entry rule (once) refuses the second, as it would a later call.
        (False, "the contact has entered this automation before (entry: once)"),
    ]
    assert _runs(settings, automation_id) == [
        (ada, f"automation:{automation_id}:contact:{ada}"),
        (bob, f"automation:{automation_id}:contact:{bob}"),
    ]

    # Ada's row is lost while her run waits: the plan passes, Temporal refuses the start, and
    # the row the plan wrote is removed again.
    for _ in range(200):
        with sessions() as session:
            steps = set(session.scalars(select(AutomationRun.current_step)))
        if steps == {"wait"}:
            break
        await asyncio.sleep(0.05)
    with transaction(sessions) as session:
        session.execute(delete(AutomationRun).where(AutomationRun.contact_id == ada))
    [again] = await enroll_many(
        time_skipping.client,
        sessions,
        settings,
        automation_id=automation_id,
        contact_ids=[ada],
        index=False,
    )
    assert isinstance(again, Enrollment)
    assert (again.started, again.reason) == (False, "a run of this contact is already going")
    assert _runs(settings, automation_id) == [(bob, f"automation:{automation_id}:contact:{bob}")]


async def test_an_inactive_automation_refuses_every_contact(
    settings: Settings, time_skipping: WorkflowEnvironment
) -> None:
    automation_id, contacts = _automation_and_contacts(settings, "cy@example.com", "di@example.com")
    sessions = session_factory(settings.resolved_database_url)
    with transaction(sessions) as session:
        automation = session.get(Automation, automation_id)
        assert automation is not None
        automation.status = AutomationStatus.PAUSED

    outcomes = await enroll_many(
        time_skipping.client, sessions, settings, automation_id=automation_id, contact_ids=contacts
    )

    assert [(o.started, o.reason) for o in outcomes if isinstance(o, Enrollment)] == [
        (False, f"automation {automation_id} is paused, not active")
    ] * 2
    assert _runs(settings, automation_id) == []
