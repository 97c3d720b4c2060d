"""Operate on an automation's runs through Temporal: bulk enrollments, pause and resume, migration."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from nurture.automations.bulk import Audience, EnrollmentInput, EnrollmentProgress
from nurture.automations.definition import Definition
from nurture.automations.runs import MigrateRequest, MigrateResult
from nurture.db.models import AutomationRun, AutomationVersion, RunStatus
from nurture.db.session import transaction
from nurture.settings import Settings
from nurture.temporal import search_attributes

PAGE_SIZE = 500
# Signals and updates in flight at once: enough to be quick, few enough to spare the frontend.
CONCURRENCY = 20
# A query or update no worker answers within this is reported, not waited on forever.
ANSWER_TIMEOUT = timedelta(seconds=10)

T = TypeVar("T")


def enrollment_workflow_id(automation_id: int) -> str:
    """A new bulk enrollment's workflow id: `enrollment:{automation_id}:{uuid}`."""
    return f"enrollment:{automation_id}:{uuid.uuid4()}"


async def start_enrollment(
    client: Client,
    settings: Settings,
    *,
    automation_id: int,
    audience: Audience,
    index: bool = True,
    page_size: int = PAGE_SIZE,
    concurrency: int = CONCURRENCY,
    pages_per_run: int = 20,
) -> str:
    """Start an EnrollmentWorkflow for the audience and return its workflow id.

    `index=False` starts it (and the runs it starts) without Nurture's search attributes, for a
    server that does not know them (the time-skipping test server).
    """
    workflow_id = enrollment_workflow_id(automation_id)
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(search_attributes.KIND, "enrollment"),
            SearchAttributePair(search_attributes.AUTOMATION_ID, str(automation_id)),
        ]
    )
    await client.start_workflow(
        "EnrollmentWorkflow",
        EnrollmentInput(
            automation_id=automation_id,
            audience=audience,
            index=index,
            page_size=page_size,
            concurrency=concurrency,
            pages_per_run=pages_per_run,
        ),
        id=workflow_id,
        task_queue=settings.task_queue,
        search_attributes=attributes if index else None,
        static_summary=f"Bulk enrollment into automation {automation_id}",
    )
    return workflow_id


@dataclass(frozen=True)
class EnrollmentView:
    """A bulk enrollment as Temporal sees it: its status and its counts (None if nobody answered)."""

    status: str
    progress: EnrollmentProgress | None


async def enrollment_view(client: Client, *, workflow_id: str) -> EnrollmentView | None:
    """The status and counts of a bulk enrollment, or None when Temporal has no such workflow.

    A running one is queried (a worker must answer within ANSWER_TIMEOUT, else RPCError); a
    completed one gives its result; a failed or terminated one is queried for its last counts.
    """
    handle = client.get_workflow_handle(workflow_id, result_type=EnrollmentProgress)
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    status = description.status
    name = status.name.lower() if status is not None else "unknown"
    if status == WorkflowExecutionStatus.COMPLETED:
        return EnrollmentView(name, await handle.result())
    if status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
        progress = await handle.query("progress", result_type=EnrollmentProgress, rpc_timeout=ANSWER_TIMEOUT)
        # Done means final: the workflow is only returning its counts.
        return EnrollmentView("completed" if progress.done else "running", progress)
    try:
        progress = await handle.query("progress", result_type=EnrollmentProgress, rpc_timeout=ANSWER_TIMEOUT)
    except RPCError:
        progress = None
    return EnrollmentView(name, progress)


def _running_page(
    sessions: sessionmaker[Session],
    *,
    automation_id: int,
    after_id: int,
    limit: int,
    below_version: int | None,
) -> list[tuple[int, str]]:
    query = select(AutomationRun.id, AutomationRun.workflow_id).where(
        AutomationRun.automation_id == automation_id,
        AutomationRun.status == RunStatus.RUNNING,
        AutomationRun.id > after_id,
    )
    if below_version is not None:
        older = select(AutomationVersion.id).where(
            AutomationVersion.automation_id == automation_id, AutomationVersion.number < below_version
        )
        query = query.where(AutomationRun.version_id.in_(older))
    with sessions() as session:
        return [
            (run_id, wid) for run_id, wid in session.execute(query.order_by(AutomationRun.id).limit(limit))
        ]


async def _running_pages(
    sessions: sessionmaker[Session], *, automation_id: int, page_size: int, below_version: int | None
) -> AsyncIterator[list[tuple[int, str]]]:
    """The automation's running runs (id, workflow id), a page at a time, in id order."""
    after = 0
    while True:
        rows = await asyncio.to_thread(
            _running_page,
            sessions,
            automation_id=automation_id,
            after_id=after,
            limit=page_size,
            below_version=below_version,
        )
        if not rows:
            return
        yield rows
        after = rows[-1][0]


async def _bounded(calls: Sequence[Awaitable[T]], concurrency: int) -> list[T]:
    """Await the calls, at most `concurrency` at a time, in order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(call: Awaitable[T]) -> T:
        async with semaphore:
            return await call

    outcomes = await asyncio.gather(*(one(call) for call in calls), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            # Every call has finished by now: nothing is left running when the first error is raised.
            raise outcome
    return outcomes  # type: ignore[return-value]


@dataclass
class SignalReport:
    """How many running runs got the signal, how many had ended meanwhile, and what stopped it."""

    signalled: int = 0
    ended: int = 0
    error: str | None = None


async def signal_runs(
    client: Client,
    sessions: sessionmaker[Session],
    *,
    automation_id: int,
    signal: Literal["pause", "resume"],
    page_size: int = PAGE_SIZE,
    concurrency: int = CONCURRENCY,
) -> SignalReport:
    """Send `pause` or `resume` to every running run of an automation, paging through its runs table.

    A run that finished meanwhile is counted as ended, not an error. When Temporal fails, the
    report says so in `error` with the count signalled until then.
    """
    report = SignalReport()

    async def send(workflow_id: str) -> bool:
        try:
            await client.get_workflow_handle(workflow_id).signal(signal)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    pages = _running_pages(sessions, automation_id=automation_id, page_size=page_size, below_version=None)
    async for rows in pages:
        try:
            sent = await _bounded([send(workflow_id) for _, workflow_id in rows], concurrency)
        except RPCError as error:
            report.error = f"Temporal refused the {signal} signal: {error.message}"
            return report
        report.signalled += sum(sent)
        report.ended += len(sent) - sum(sent)
    return report


@dataclass(frozen=True)
class MovedRun:
    """A run now on the target version, at this step."""

    run_id: int
    workflow_id: str
    step: str | None


@dataclass(frozen=True)
class StayedRun:
    """A run left on its version, and why."""

    run_id: int
    workflow_id: str
    reason: str


@dataclass
class MigrationReport:
    """Which running runs on older versions moved to `version`, and which did not."""

    version: int
    moved: list[MovedRun] = field(default_factory=list)
    not_moved: list[StayedRun] = field(default_factory=list)


class NoSuchVersion(LookupError):
    """The automation has no version with that number (or none at all)."""


def _target(sessions: sessionmaker[Session], automation_id: int, number: int | None) -> AutomationVersion:
    query = select(AutomationVersion).where(AutomationVersion.automation_id == automation_id)
    if number is not None:
        query = query.where(AutomationVersion.number == number)
    with sessions() as session:
        version = session.scalar(query.order_by(AutomationVersion.number.desc()).limit(1))
    if version is None:
        raise NoSuchVersion(f"automation {automation_id} has no version {number or ''}".strip())
    return version


def _record_moves(sessions: sessionmaker[Session], run_ids: list[int], version_id: int) -> None:
    with transaction(sessions) as session:
        for run in session.scalars(select(AutomationRun).where(AutomationRun.id.in_(run_ids))):
            run.version_id = version_id


async def migrate_runs(
    client: Client,
    sessions: sessionmaker[Session],
    *,
    automation_id: int,
    to_version: int | None = None,
    page_size: int = PAGE_SIZE,
    concurrency: int = CONCURRENCY,
) -> MigrationReport:
    """Move every running run on an older version to `to_version` (the latest by default).

    Each run gets the `migrate` update; the run's validator refuses a version lacking the step
    the run is at, and that refusal is the reason reported. A moved run's row gets the version.

    Raises:
        NoSuchVersion: the automation has no such version.
        RPCError: Temporal itself failed (not a run's refusal).
    """
    target = await asyncio.to_thread(_target, sessions, automation_id, to_version)
    request = MigrateRequest(
        version_id=target.id,
        version_number=target.number,
        definition=Definition.model_validate(target.definition),
    )
    report = MigrationReport(version=target.number)

    async def move(run_id: int, workflow_id: str) -> MovedRun | StayedRun:
        handle = client.get_workflow_handle(workflow_id)
        try:
            result = await handle.execute_update(
                "migrate", request, result_type=MigrateResult, rpc_timeout=ANSWER_TIMEOUT
            )
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            return StayedRun(run_id, workflow_id, str(getattr(cause, "message", None) or cause or error))
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return StayedRun(run_id, workflow_id, "the run has ended")
            if error.status == RPCStatusCode.DEADLINE_EXCEEDED:
                return StayedRun(run_id, workflow_id, "no worker answered in time; try again")
            raise
        return MovedRun(run_id, workflow_id, result.step)

    pages = _running_pages(
        sessions, automation_id=automation_id, page_size=page_size, below_version=target.number
    )
    async for rows in pages:
        outcomes = await _bounded([move(run_id, workflow_id) for run_id, workflow_id in rows], concurrency)
        moved = [o for o in outcomes if isinstance(o, MovedRun)]
        if moved:
            await asyncio.to_thread(_record_moves, sessions, [m.run_id for m in moved], target.id)
        report.moved += moved
        report.not_moved += [o for o in outcomes if isinstance(o, StayedRun)]
    return report
