"""Start a contact's run through an automation, by its entry rule: once, after the previous, per value."""

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
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


def _plan(
    session: Session, *, automation_id: int, contact_id: int, entry_value: str | None, settings: Settings
) -> _Plan | Enrollment:
    # The automation and its newest version in one query: this runs once per contact enrolled.
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
    if found is None:
        return Enrollment(False, f"automation {automation_id} does not exist")
    if found.status != AutomationStatus.ACTIVE:
        return Enrollment(False, f"automation {automation_id} is {found.status.value}, not active")
    # Only whether it exists: loading the contact would load its tags and subscriptions too.
    if session.scalar(select(Contact.id).where(Contact.id == contact_id)) is None:
        return Enrollment(False, f"contact {contact_id} does not exist")
    if found.id is None:
        return Enrollment(False, f"automation {automation_id} has no version")
    definition = definition_of(session, found.id, found.created_at)
    runs = list(
        session.scalars(
            select(AutomationRun).where(
                AutomationRun.automation_id == automation_id, AutomationRun.contact_id == contact_id
            )
        )
    )
    rule = definition.entry
    suffix: str | None = None
    if rule.mode == "once":
        if runs:
            return Enrollment(False, "the contact has entered this automation before (entry: once)")
    elif rule.mode == "after_previous":
        if any(run.status == RunStatus.RUNNING for run in runs):
            return Enrollment(False, "the contact's previous run has not ended (entry: after_previous)")
        suffix = str(len(runs) + 1)
    else:
        if entry_value is None:
            return Enrollment(False, f"entry per value of '{rule.property}' needs that event property")
        if any(run.entry_value == entry_value for run in runs):
            return Enrollment(False, f"the contact already has a run for {rule.property} {entry_value!r}")
        # Hashed: a value (a cart id, an order number) stays out of workflow ids.
        suffix = "v-" + hashlib.sha256(entry_value.encode()).hexdigest()[:16]
    workflow_id = workflow_id_for(automation_id, contact_id, suffix)
    row = AutomationRun(
        automation_id=automation_id,
        version_id=found.id,
        contact_id=contact_id,
        workflow_id=workflow_id,
        entry_value=entry_value,
        status=RunStatus.RUNNING,
    )
    session.add(row)
    session.flush()
    run = RunInput(
        automation_id=automation_id,
        automation_name=found.name,
        version_id=found.id,
        version_number=found.number,
        contact_id=contact_id,
        definition=definition,
        run_id=row.id,
        entry_value=entry_value,
        email_task_queue=settings.email_task_queue,
    )
    summary = f"{found.name} (v{found.number}): contact {contact_id}"
    return _Plan(run, workflow_id, summary)


def _forget(sessions: sessionmaker[Session], run_id: int | None) -> None:
    with transaction(sessions) as session:
        row = session.get(AutomationRun, run_id) if run_id else None
        if row is not None:
            session.delete(row)


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
    """Start the contact's run if the automation is active and its entry rule allows it.

    The run's row is written first, so listings and the entry rule see it at once; if Temporal
    refuses the start (a run with that id is already going), the row is removed again. An
    event that triggered the enrollment is delivered with the start (signal-with-start), so the
    run has it before its first step. `index=False` starts it without Nurture's search
    attributes, for a server that does not know them (the time-skipping test server).
    """

    def plan() -> _Plan | Enrollment:
        with transaction(sessions) as session:
            return _plan(
                session,
                automation_id=automation_id,
                contact_id=contact_id,
                entry_value=entry_value,
                settings=settings,
            )

    planned = await asyncio.to_thread(plan)
    if isinstance(planned, Enrollment):
        return planned
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(search_attributes.KIND, "automation"),
            SearchAttributePair(search_attributes.AUTOMATION_ID, str(automation_id)),
            SearchAttributePair(search_attributes.CONTACT_ID, str(contact_id)),
        ]
    )
    try:
        handle = await client.start_workflow(
            "AutomationRunWorkflow",
            planned.input,
            result_type=RunOutcome,
            id=planned.workflow_id,
            task_queue=settings.task_queue,
            # The entry rule, checked on the runs table above, decides re-entry; Temporal only
            # refuses a second run while one with this id is going.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=attributes if index else None,
            static_summary=planned.summary,
            start_signal="contact_event" if event is not None else None,
            start_signal_args=[event] if event is not None else [],
        )
    except WorkflowAlreadyStartedError:
        await asyncio.to_thread(_forget, sessions, planned.input.run_id)
        return Enrollment(False, "a run of this contact is already going", planned.workflow_id)
    except BaseException:
        await asyncio.to_thread(_forget, sessions, planned.input.run_id)
        raise
    return Enrollment(True, None, planned.workflow_id, planned.input.run_id, handle)
