"""/automations/{id}/runs and /report: contacts' runs, and counts per step, per status and per goal."""

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from api.deps import SessionDep, SettingsDep
from api.pagination import Page, paginate
from api.routes.automation_deps import AutomationDep, PageDep
from api.schemas.automations import AutomationReport, GoalReport, RunPublic, RunTotals, StepReport
from nurture.automations.definition import Definition
from nurture.crud import automations as crud
from nurture.crud.automations import RunCounts
from nurture.db.models import AutomationRun, RunStatus
from nurture.settings import Settings
from nurture.temporal.client import ui_link

router = APIRouter(prefix="/automations", tags=["automations"])


def runs_public(session: Session, settings: Settings, runs: Sequence[AutomationRun]) -> list[RunPublic]:
    """Runs as the API answers them: with their version's number and a link to the Temporal UI."""
    numbers = crud.version_numbers(session, version_ids=[run.version_id for run in runs])
    return [
        RunPublic.of(run, version=numbers[run.version_id], ui_url=ui_link(settings, run.workflow_id))
        for run in runs
    ]


@router.get("/{automation_id}/runs", response_model=Page[RunPublic])
def list_runs(
    session: SessionDep,
    settings: SettingsDep,
    automation: AutomationDep,
    page: PageDep,
    status: Annotated[RunStatus | None, Query(description="Only runs in this status")] = None,
    step: Annotated[str | None, Query(max_length=64, description="Only runs at this step id")] = None,
) -> Page[RunPublic]:
    """Contacts' runs, newest first, each with a link to its workflow in the Temporal UI."""
    query = crud.filter_runs(automation_id=automation.id, status=status, current_step=step)
    rows: list[AutomationRun]
    rows, next_cursor = paginate(session, query, AutomationRun.id, page, newest_first=True)
    return Page(data=runs_public(session, settings, rows), next_cursor=next_cursor)


def _step_report(counts: RunCounts, step_id: str, step_type: str | None, name: str | None) -> StepReport:
    return StepReport(
        id=step_id,
        type=step_type,
        name=name,
        entered=counts.entered.get(step_id, 0),
        waiting_now=counts.waiting.get(step_id, 0),
        completed=counts.completed.get(step_id, 0),
        ended_here=counts.ended.get(step_id, 0),
    )


@router.get("/{automation_id}/report", response_model=AutomationReport)
def report(session: SessionDep, automation: AutomationDep) -> AutomationReport:
    """Per step of the latest version: runs that entered it, contacts waiting there now, runs that
    entered and are no longer at it, and runs that ended there; run totals; and each goal's
    conversion (runs that reached it out of all runs)."""
    counts = crud.run_counts(session, automation_id=automation.id)
    latest = crud.latest_version(session, automation_id=automation.id)
    assert latest is not None, "every automation is created with its first version"
    definition = Definition.model_validate(latest.definition)
    steps = [_step_report(counts, step.id, step.type, step.name) for step in definition.steps]
    # Runs on older versions may sit at, or have passed, steps the latest one dropped; they still count.
    known = {step.id for step in definition.steps}
    seen = counts.entered.keys() | counts.waiting.keys() | counts.ended.keys()
    steps += [_step_report(counts, step_id, None, None) for step_id in sorted(seen - known)]
    goal_ids = [goal.id for goal in definition.goals()]
    goal_ids += sorted(counts.goals.keys() - set(goal_ids))
    total = counts.total
    goals = [
        GoalReport(
            id=goal_id,
            reached=counts.goals.get(goal_id, 0),
            conversion=round(counts.goals.get(goal_id, 0) / total, 4) if total else 0.0,
        )
        for goal_id in goal_ids
    ]
    by_status = counts.by_status
    runs = RunTotals(
        entered=total,
        running=by_status[RunStatus.RUNNING],
        completed=by_status[RunStatus.COMPLETED],
        exited=by_status[RunStatus.EXITED],
        failed=by_status[RunStatus.FAILED],
    )
    return AutomationReport(steps=steps, runs=runs, goals=goals)
