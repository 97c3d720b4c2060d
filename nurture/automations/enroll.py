"""Start a contact's run through an automation, by its entry rule: once, after the previous, per value."""

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from nurture.automations.runs import ContactEventSignal, RunInput, RunOutcome
from nurture.automations.versions import definition_of
from nurture.db.models import (
    Automation,
    AutomationRun,
    AutomationStatus,
    AutomationVersion,
    Contact,
    RunStatus,
)
from nurture.db.session import transaction
from nurture.settings import Settings
from nurture.temporal import search_attributes


@dataclass(frozen=True)
class Enrollment:
    """What became of one enrollment: started (with its run), or refused and why."""

    started: bool
    reason: str | None = None
    workflow_id: str | None = None
    run_id: int | None = None
    handle: WorkflowHandle[Any, Any] | None = None


@dataclass(frozen=True)
class _Plan:
    input: RunInput
    workflow_id: str
    summary: str


def workflow_id_for(automation_id: int, contact_id: int, suffix: str | None = None) -> str:
    """`automation:{id}:contact:{id}`, with a suffix where the entry rule allows re-entry."""
    base = f"automation:{automation_id}:contact:{contact_id}"
    return f"{base}:{suffix}" if suffix else base


def _rule_suffix(
    rule: Any, runs: list[AutomationRun], entry_value: str | None
) -> tuple[str | None, Enrollment | None]:
    """The workflow id suffix the entry rule gives this contact's next run, or why it refuses."""
    if rule.mode == "once":
        if runs:
            return None, Enrollment(False, "the contact has entered this automation before (entry: once)")
        return None, None
    if rule.mode == "after_previous":
        if any(run.status == RunStatus.RUNNING for run in runs):
            return None, Enrollment(False, "the contact's previous run has not ended (entry: after_previous)")
        return str(len(runs) + 1), None
    if entry_value is None:
        return None, Enrollment(False, f"entry per value of '{rule.property}' needs that event property")
    if any(run.entry_value == entry_value for run in runs):
        return None, Enrollment(False, f"the contact already has a run for {rule.property} {entry_value!r}")
    # Hashed: a value (a cart id, an order number) stays out of workflow ids.
    return "v-" + hashlib.sha256(entry_value.encode()).hexdigest()[:16], None


def _plan(
    session: Session,
    *,
    automation_id: int,
    contact_ids: Sequence[int],
    entry_value: str | None,
    settings: Settings,
) -> list[_Plan | Enrollment]:
    """Each contact's run to start (its row written), or why not; a few queries for them all."""
    # The automation and its newest version in one query.
    found = session.execute(
        select(
            Automation.name,
            Automation.status,
            AutomationVersion.id,
            AutomationVersion.number,
            AutomationVersion.created_at,
        )
        .outerjoin(AutomationVersion, AutomationVersion.automation_id == Automation.id)
        .where(Automation.id == automation_id)
        .order_by(AutomationVersion.number.desc())
        .limit(1)
    ).first()
    refused: Enrollment | None = None
    if found is None:
        refused = Enrollment(False, f"automation {automation_id} does not exist")
    elif found.status != AutomationStatus.ACTIVE:
        refused = Enrollment(False, f"automation {automation_id} is {found.status.value}, not active")
    if refused is not None:
        return [refused] * len(contact_ids)
    assert found is not None
    # Only whether they exist: loading contacts would load their tags and subscriptions too.
    existing = set(session.scalars(select(Contact.id).where(Contact.id.in_(contact_ids))))
    if found.id is None:
        return [
            Enrollment(False, f"automation {automation_id} has no version")
            if contact_id in existing
            else Enrollment(False, f"contact {contact_id} does not exist")
            for contact_id in contact_ids
        ]
    definition = definition_of(session, found.id, found.created_at)
    runs: dict[int, list[AutomationRun]] = {contact_id: [] for contact_id in contact_ids}
    for run in session.scalars(
        select(AutomationRun).where(
            AutomationRun.automation_id == automation_id, AutomationRun.contact_id.in_(contact_ids)
        )
    ):
        runs[run.contact_id].append(run)
    planned: list[AutomationRun | Enrollment] = []
    for contact_id in contact_ids:
        if contact_id not in existing:
            planned.append(Enrollment(False, f"contact {contact_id} does not exist"))
            continue
        suffix, why_not = _rule_suffix(definition.entry, runs[contact_id], entry_value)
        if why_not is not None:
            planned.append(why_not)
            continue
        row = AutomationRun(
            automation_id=automation_id,
            version_id=found.id,
            contact_id=contact_id,
            workflow_id=workflow_id_for(automation_id, contact_id, suffix),
            entry_value=entry_value,
            status=RunStatus.RUNNING,
        )
        # A contact given twice is planned once: the rule refuses its second run like any other.
        runs[contact_id].append(row)
        planned.append(row)
    session.add_all(row for row in planned if isinstance(row, AutomationRun))
    session.flush()  # one multi-row INSERT; the rows' ids go into the runs' input

    def start(row: AutomationRun) -> _Plan:
        run = RunInput(
            automation_id=automation_id,
            automation_name=found.name,
            version_id=found.id,
            version_number=found.number,
            contact_id=row.contact_id,
            definition=definition,
            run_id=row.id,
            entry_value=entry_value,
            email_task_queue=settings.email_task_queue,
        )
        return _Plan(run, row.workflow_id, f"{found.name} (v{found.number}): contact {row.contact_id}")

    return [plan if isinstance(plan, Enrollment) else start(plan) for plan in planned]


def _forget(sessions: sessionmaker[Session], run_ids: list[int]) -> None:
    with transaction(sessions) as session:
        session.execute(delete(AutomationRun).where(AutomationRun.id.in_(run_ids)))


async def _start(
    client: Client, settings: Settings, planned: _Plan, event: ContactEventSignal | None, index: bool
) -> Enrollment:
    run = planned.input
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(search_attributes.KIND, "automation"),
            SearchAttributePair(search_attributes.AUTOMATION_ID, str(run.automation_id)),
            SearchAttributePair(search_attributes.CONTACT_ID, str(run.contact_id)),
        ]
    )
    try:
        handle = await client.start_workflow(
            "AutomationRunWorkflow",
            run,
            result_type=RunOutcome,
            id=planned.workflow_id,
            task_queue=settings.task_queue,
            # The entry rule, checked on the runs table, decides re-entry; Temporal only
            # refuses a second run while one with this id is going.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=attributes if index else None,
            static_summary=planned.summary,
            start_signal="contact_event" if event is not None else None,
            start_signal_args=[event] if event is not None else [],
        )
    except WorkflowAlreadyStartedError:
        return Enrollment(False, "a run of this contact is already going", planned.workflow_id)
    return Enrollment(True, None, planned.workflow_id, run.run_id, handle)


async def enroll_many(
    client: Client,
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    automation_id: int,
    contact_ids: Sequence[int],
    entry_value: str | None = None,
    event: ContactEventSignal | None = None,
    index: bool = True,
) -> list[Enrollment | BaseException]:
    """Start each contact's run if the automation is active and its entry rule allows it.

    The runs' rows are written first, in one transaction, so listings and the entry rule see
    them at once; the runs then start together. Where Temporal refuses a start (a run with that
    id is already going) or the start fails, the row is removed again: the contact's entry is
    the exception it failed with. An event that triggered the enrollment is delivered with the
    start (signal-with-start), so the run has it before its first step. `index=False` starts
    runs without Nurture's search attributes, for a server that does not know them (the
    time-skipping test server).
    """

    def plan() -> list[_Plan | Enrollment]:
        with transaction(sessions) as session:
            return _plan(
                session,
                automation_id=automation_id,
                contact_ids=contact_ids,
                entry_value=entry_value,
                settings=settings,
            )

    planned = await asyncio.to_thread(plan)
    runs = [p for p in planned if isinstance(p, _Plan)]
    try:
        starts = await asyncio.gather(
            *(_start(client, settings, p, event, index) for p in runs), return_exceptions=True
        )
    except BaseException:
        # Cancelled midway: remove every row; a run that did start writes its own at its first step.
        await asyncio.to_thread(_forget, sessions, [p.input.run_id for p in runs if p.input.run_id])
        raise
    started = iter(starts)
    outcomes = [p if isinstance(p, Enrollment) else next(started) for p in planned]
    unstarted = [
        p.input.run_id
        for p, outcome in zip(planned, outcomes, strict=True)
        if isinstance(p, _Plan)
        and p.input.run_id is not None
        and not (isinstance(outcome, Enrollment) and outcome.started)
    ]
    if unstarted:
        await asyncio.to_thread(_forget, sessions, unstarted)
    return outcomes


async def enroll(
    client: Client,
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    automation_id: int,
    contact_id: int,
    entry_value: str | None = None,
    event: ContactEventSignal | None = None,
    index: bool = True,
) -> Enrollment:
    """`enroll_many` for one contact: its enrollment, or the exception its start failed with."""
    [outcome] = await enroll_many(
        client,
        sessions,
        settings,
        automation_id=automation_id,
        contact_ids=[contact_id],
        entry_value=entry_value,
        event=event,
        index=index,
    )
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome
