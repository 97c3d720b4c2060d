"""Bulk enrollment on the time-skipping server: EnrollmentWorkflow pages a list's subscribers out of the
database, starts one run each, continues as new, and counts what its entry rule refuses."""

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from nurture.automations import control
from nurture.automations.bulk import Audience, EnrollmentProgress
from nurture.crud.lists import create_list, set_subscription
from nurture.crud.tags import add_tag
from nurture.db.models import (
    Automation,
    AutomationRun,
    AutomationStatus,
    AutomationVersion,
    Contact,
    RunStatus,
    SubscriptionStatus,
)
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings
from workers.registration import ACTIVITY_THREADS, WorkerDeps, build_worker

CONTACTS = 120


@dataclass
class Bulk:
    client: Client
    settings: Settings
    sessions: sessionmaker[Session]
    automation_id: int
    list_id: int

    async def enroll(self, audience: Audience) -> EnrollmentProgress:
        workflow_id = await control.start_enrollment(
            self.client,
            self.settings,
            automation_id=self.automation_id,
            audience=audience,
            index=False,  # the time-skipping server has no custom search attributes
            page_size=50,
            pages_per_run=2,
        )
        assert workflow_id.startswith(f"enrollment:{self.automation_id}:")
        handle = self.client.get_workflow_handle(workflow_id, result_type=EnrollmentProgress)
        result = await handle.result()
        # The query answers with the same counts once it has ended, and the view says so.
        assert await handle.query("progress", result_type=EnrollmentProgress) == result
        view = await control.enrollment_view(self.client, workflow_id=workflow_id)
        assert view is not None and view.status == "completed" and view.progress == result
        return result

    def runs(self) -> int:
        with self.sessions() as session:
            query = select(func.count()).where(AutomationRun.automation_id == self.automation_id)
            return session.scalar(query) or 0


@pytest.fixture
async def bulk(settings: Settings, time_skipping: WorkflowEnvironment) -> AsyncIterator[Bulk]:
    run = uuid.uuid4().hex[:8]
    settings = settings.model_copy(update={"task_queue": f"t-{run}", "email_task_queue": f"e-{run}"})
    sessions = session_factory(settings.resolved_database_url)
    with transaction(sessions) as session:
        trial = create_list(session, name="Trial users")
        for n in range(CONTACTS + 5):
            contact = Contact(email=f"c{n}@example.com")
            session.add(contact)
            session.flush()
            # Five unsubscribed members are not the list's audience.
            status = SubscriptionStatus.SUBSCRIBED if n < CONTACTS else SubscriptionStatus.UNSUBSCRIBED
            set_subscription(session, list_id=trial.id, contact_id=contact.id, status=status)
            if n % 10 == 0:
                add_tag(session, contact=contact, name="vip")
        automation = Automation(name=f"Slow drip {run}", status=AutomationStatus.ACTIVE)
        session.add(automation)
        session.flush()
        definition = {
            "steps": [
                {"id": "a-month", "type": "wait", "duration": "30d"},
                {"id": "tag", "type": "tag", "add": ["dripped"]},
            ]
        }
        session.add(AutomationVersion(automation_id=automation.id, number=1, definition=definition))
        ids = automation.id, trial.id
    client = time_skipping.client
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(
            client, WorkerDeps(settings=settings), executor=executor, task_queue=settings.task_queue
        ):
            yield Bulk(client, settings, sessions, *ids)


async def test_a_list_is_enrolled_page_by_page_and_a_second_run_is_refused_by_the_entry_rule(
    bulk: Bulk,
) -> None:
    first = await bulk.enroll(Audience(subscribed_to=bulk.list_id))
    assert (first.started, first.refused, first.failed) == (CONTACTS, {}, 0)
    # 120 at 50 a page: three pages, over two runs of the workflow (it continued as new after two).
    assert (first.contacts_seen, first.pages, first.done) == (CONTACTS, 3, True)
    assert first.started_at is not None and first.finished_at is not None
    assert bulk.runs() == CONTACTS
    with bulk.sessions() as session:
        some = session.scalar(select(AutomationRun).where(AutomationRun.automation_id == bulk.automation_id))
        assert some is not None and some.status == RunStatus.RUNNING
    description = await bulk.client.get_workflow_handle(some.workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING

    again = await bulk.enroll(Audience(subscribed_to=bulk.list_id))
    assert (again.started, again.refused, again.failed) == (0, {"once": CONTACTS}, 0)
    assert again.refused_total == CONTACTS and bulk.runs() == CONTACTS


async def test_a_filter_takes_only_matching_contacts_and_a_paused_automation_stops_the_enrollment(
    bulk: Bulk,
) -> None:
    vips = await bulk.enroll(Audience(tag="VIP", list_id=bulk.list_id))
    # Every tenth contact of 125 carries the tag, whatever its subscription.
    assert (vips.started, vips.contacts_seen) == (13, 13)

    with transaction(bulk.sessions) as session:
        automation = session.get(Automation, bulk.automation_id)
        assert automation is not None
        automation.status = AutomationStatus.PAUSED
    stopped = await bulk.enroll(Audience(subscribed_to=bulk.list_id))
    # The first page is refused as a whole, and the rest is not tried.
    assert (stopped.started, stopped.refused, stopped.pages) == (0, {"inactive": 50}, 1)
    assert stopped.stopped == f"automation {bulk.automation_id} is no longer active"
    assert bulk.runs() == 13
