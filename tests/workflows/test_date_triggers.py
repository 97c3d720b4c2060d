"""Date triggers on the time-skipping server: DateTriggerWorkflow pages the contacts due on a day out of
the database, page by page across continue-as-new, enrolls them (birthdays yearly, renewals with an
offset, 29 February kept on the 28th), skips what is not a date, and starts nobody twice on a rerun."""

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from nurture.automations.date_triggers import DateTriggerInput, DateTriggerProgress
from nurture.db.models import Automation, AutomationRun, AutomationStatus, AutomationVersion, Contact
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings
from tests.workflows.histories import record
from workers.registration import ACTIVITY_THREADS, WorkerDeps, build_worker

WAIT = [{"id": "a-month", "type": "wait", "duration": "30d"}, {"id": "tag", "type": "tag", "add": ["done"]}]

# Contacts by email, and their custom fields.
PEOPLE: dict[str, dict[str, Any]] = {
    "ann": {"birthday": "1990-03-01"},
    "ben": {"birthday": "1985-03-01T10:00:00+02:00"},
    "cat": {"birthday": "2001-03-01", "renewal_date": "2025-03-15"},
    "dan": {"birthday": "1990-03-02"},
    "eve": {"birthday": "March 1st"},
    "fay": {"birthday": 19900301},
    "gus": {"birthday": "1990-03-01junk"},
    "hal": {},
    "ida": {"birthday": "2000-02-29"},
    "jon": {"birthday": "1999-02-28", "renewal_date": "2025-03-14"},
    "kim": {"birthday": "1970-03-01"},
}


@dataclass
class Days:
    client: Client
    settings: Settings
    sessions: sessionmaker[Session]
    birthdays: int
    renewals: int
    paused: int
    replaced: int
    contacts: dict[str, int]
    # Whether the last run continued as new (it had more pages than one run takes).
    continued: bool = False

    async def run(self, day: date, *, history: str | None = None, **options: Any) -> DateTriggerProgress:
        handle = await self.client.start_workflow(
            "DateTriggerWorkflow",
            DateTriggerInput(**{"day": day, "index": False, "page_size": 2, "pages_per_run": 3, **options}),
            id=f"date-triggers-test-{uuid.uuid4().hex[:8]}",
            task_queue=self.settings.task_queue,
            result_type=DateTriggerProgress,
        )
        result = await handle.result()
        assert await handle.query("progress", result_type=DateTriggerProgress) == result
        latest = await self.client.get_workflow_handle(handle.id).describe()
        self.continued = latest.run_id != handle.first_execution_run_id
        if history:
            await record(self.client, workflow_id=handle.id, name=history)
        return result

    def enrolled(self, automation_id: int) -> list[str]:
        names = {contact_id: name for name, contact_id in self.contacts.items()}
        with self.sessions() as session:
            query = select(AutomationRun.contact_id).where(AutomationRun.automation_id == automation_id)
            return sorted(names[contact_id] for contact_id in session.scalars(query))


def _automation(session: Session, name: str, status: AutomationStatus, definition: dict[str, Any]) -> int:
    automation = Automation(name=name, status=status)
    session.add(automation)
    session.flush()
    session.add(AutomationVersion(automation_id=automation.id, number=1, definition=definition))
    return automation.id


@pytest.fixture
async def days(settings: Settings, time_skipping: WorkflowEnvironment) -> AsyncIterator[Days]:
    run = uuid.uuid4().hex[:8]
    settings = settings.model_copy(update={"task_queue": f"t-{run}", "email_task_queue": f"e-{run}"})
    sessions = session_factory(settings.resolved_database_url)
    with transaction(sessions) as session:
        contacts = {}
        for name, fields in PEOPLE.items():
            contact = Contact(email=f"{name}-{run}@example.com", custom_fields=fields)
            session.add(contact)
            session.flush()
            contacts[name] = contact.id
        birthday = {"type": "date", "field": "birthday", "yearly": True}
        birthdays = _automation(
            session, f"Birthdays {run}", AutomationStatus.ACTIVE, {"triggers": [birthday], "steps": WAIT}
        )
        renewal = {"type": "date", "field": "renewal_date", "offset_days": -14}
        renewals = _automation(
            session,
            f"Renewals {run}",
            AutomationStatus.ACTIVE,
            {"triggers": [renewal, {"type": "manual"}], "entry": {"mode": "after_previous"}, "steps": WAIT},
        )
        paused = _automation(
            session,
            f"Paused birthdays {run}",
            AutomationStatus.PAUSED,
            {"triggers": [birthday], "steps": WAIT},
        )
        # A newer version without the date trigger: the newest version is the one that counts.
        replaced = _automation(
            session, f"Was birthdays {run}", AutomationStatus.ACTIVE, {"triggers": [birthday], "steps": WAIT}
        )
        session.add(AutomationVersion(automation_id=replaced, number=2, definition={"steps": WAIT}))
        ids = birthdays, renewals, paused, replaced
    client = time_skipping.client
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        async with build_worker(
            client, WorkerDeps(settings=settings), executor=executor, task_queue=settings.task_queue
        ):
            yield Days(client, settings, sessions, *ids, contacts)


async def test_the_contacts_due_on_a_day_are_enrolled_and_a_rerun_starts_nobody_twice(days: Days) -> None:
    first = await days.run(date(2025, 3, 1))
    assert first.day == date(2025, 3, 1) and first.done
    assert first.started_at is not None and first.finished_at is not None
    # Active automations with a date trigger in their newest version, in id order.
    assert [a.automation_id for a in first.automations or []] == [days.birthdays, days.renewals]
    birthdays, renewals = first.enrollments
    # Born on 1 March, whatever the year or the time written; not 2 March, nor what is not a date.
    assert days.enrolled(days.birthdays) == ["ann", "ben", "cat", "kim"]
    assert (birthdays.started, birthdays.refused, birthdays.failed) == (4, {}, 0)
    # Two at a page: four due contacts among eleven, over pages and a continue-as-new (three a run).
    assert birthdays.done and birthdays.contacts_seen == 4 and birthdays.pages == 3 and days.continued
    # Renewing on 15 March, fourteen days ahead.
    assert days.enrolled(days.renewals) == ["cat"]
    assert (renewals.started, renewals.done) == (1, True)
    assert first.started == 5
    assert days.enrolled(days.paused) == [] and days.enrolled(days.replaced) == []

    again = await days.run(date(2025, 3, 1))
    [birthdays_again, renewals_again] = again.enrollments
    # Entry once: the same day again starts nobody twice.
    assert (birthdays_again.started, birthdays_again.refused) == (0, {"once": 4})
    assert days.enrolled(days.birthdays) == ["ann", "ben", "cat", "kim"]
    # After previous: cat's renewal run is still going (a month's wait), so it is refused too.
    assert (renewals_again.started, renewals_again.refused) == (0, {"after_previous": 1})
    assert again.started == 0


async def test_a_29_february_birthday_is_kept_on_the_28th_when_the_year_has_none(days: Days) -> None:
    await days.run(date(2025, 2, 28), page_size=50, history="date_triggers_day")
    assert days.enrolled(days.birthdays) == ["ida", "jon"]
    assert days.enrolled(days.renewals) == ["jon"]


async def test_in_a_leap_year_the_28th_is_not_the_29th(days: Days) -> None:
    await days.run(date(2024, 2, 28))
    assert days.enrolled(days.birthdays) == ["jon"]
    await days.run(date(2024, 2, 29))
    assert days.enrolled(days.birthdays) == ["ida", "jon"]
