"""/automations: definitions saved as immutable versions, their status, runs and reports."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.exceptions import RequestValidationError

from api.deps import SessionDep, SettingsDep
from api.errors import Problem, conflict, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath
from api.schemas.automations import (
    AutomationCreate,
    AutomationPublic,
    AutomationReport,
    AutomationUpdate,
    GoalReport,
    RunPublic,
    RunTotals,
    StepReport,
    VersionCreate,
    VersionPublic,
)
from nurture.automations.check import check_definition
from nurture.automations.definition import Definition
from nurture.automations.problems import DefinitionRefused
from nurture.crud import automations as crud
from nurture.crud.automations import AutomationConflict, StatusAction
from nurture.db.models import Automation, AutomationRun, AutomationStatus, AutomationVersion, RunStatus
from nurture.temporal.client import ui_link

router = APIRouter(prefix="/automations", tags=["automations"])

PageDep = Annotated[PageParams, Depends(page_params)]


def _load(session: SessionDep, automation_id: IdPath) -> Automation:
    automation = crud.get_automation(session, automation_id=automation_id)
    if automation is None:
        raise not_found("automation", automation_id)
    return automation


AutomationDep = Annotated[Automation, Depends(_load)]


def _check_name(session: SessionDep, name: str, current: Automation | None = None) -> None:
    existing = crud.get_automation_by_name(session, name=name)
    if existing is not None and existing is not current:
        raise conflict("name", f"an automation named '{existing.name}' already exists")


def _definition(session: SessionDep, raw: dict[str, Any], automation_id: int | None = None) -> Definition:
    try:
        return check_definition(session, raw, automation_id=automation_id)
    except DefinitionRefused as exc:
        # The same 422 as a request pydantic refuses: one error per problem, its path as the field.
        raise RequestValidationError(
            [
                {"loc": ("body", "definition", *p.loc), "msg": p.message, "type": "value_error"}
                for p in exc.problems
            ]
        ) from exc


def _conflict(exc: AutomationConflict) -> Problem:
    return Problem(409, "Conflict", str(exc))


def _public(session: SessionDep, automation: Automation) -> AutomationPublic:
    version = crud.latest_version(session, automation_id=automation.id)
    assert version is not None, "every automation is created with its first version"
    return AutomationPublic.of(automation, version)


@router.get("", response_model=Page[AutomationPublic])
def list_automations(
    session: SessionDep,
    page: PageDep,
    status: Annotated[AutomationStatus | None, Query(description="Only automations in this status")] = None,
    q: Annotated[str | None, Query(description="Search automation names")] = None,
) -> Page[AutomationPublic]:
    """Automations, oldest first, each with its latest version."""
    rows, next_cursor = paginate(
        session, crud.filter_automations(status=status, search=q), Automation.id, page
    )
    return Page(data=[_public(session, row) for row in rows], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=AutomationPublic)
def create_automation(session: SessionDep, body: AutomationCreate) -> AutomationPublic:
    """Create an automation with its definition as version 1, as a draft unless `status` is active."""
    _check_name(session, body.name)
    definition = _definition(session, body.definition)
    automation, version = crud.create_automation(
        session, name=body.name, definition=definition, status=AutomationStatus(body.status)
    )
    session.commit()
    return AutomationPublic.of(automation, version)


@router.get("/{automation_id}", response_model=AutomationPublic)
def read_automation(session: SessionDep, automation: AutomationDep) -> AutomationPublic:
    """One automation with its latest version."""
    return _public(session, automation)


@router.patch("/{automation_id}", response_model=AutomationPublic)
def update_automation(
    session: SessionDep, automation: AutomationDep, body: AutomationUpdate
) -> AutomationPublic:
    """Rename an automation; its steps change by saving a new version."""
    if body.name is not None:
        _check_name(session, body.name, automation)
        crud.rename_automation(session, automation=automation, name=body.name)
        session.commit()
    return _public(session, automation)


@router.delete("/{automation_id}", status_code=204)
def delete_automation(session: SessionDep, automation: AutomationDep) -> Response:
    """Delete a draft or archived automation no contact is running through, with its versions and runs."""
    try:
        crud.delete_automation(session, automation=automation)
    except AutomationConflict as exc:
        raise _conflict(exc) from exc
    session.commit()
    return Response(status_code=204)


@router.post("/{automation_id}/versions", status_code=201, response_model=VersionPublic)
def create_version(session: SessionDep, automation: AutomationDep, body: VersionCreate) -> VersionPublic:
    """Save a definition as the next version: new runs start on it, running contacts keep theirs."""
    if automation.status == AutomationStatus.ARCHIVED:
        raise _conflict(
            AutomationConflict(f"automation {automation.id} is archived; it takes no new versions")
        )
    definition = _definition(session, body.definition, automation.id)
    try:
        version = crud.save_version(session, automation=automation, definition=definition)
    except AutomationConflict as exc:
        raise _conflict(exc) from exc
    session.commit()
    return VersionPublic.model_validate(version)


@router.get("/{automation_id}/versions", response_model=Page[VersionPublic])
def list_versions(session: SessionDep, automation: AutomationDep, page: PageDep) -> Page[VersionPublic]:
    """Every version, first to latest."""
    query = crud.filter_versions(automation_id=automation.id)
    rows, next_cursor = paginate(session, query, AutomationVersion.id, page)
    return Page(data=[VersionPublic.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.get("/{automation_id}/versions/{number}", response_model=VersionPublic)
def read_version(session: SessionDep, automation: AutomationDep, number: IdPath) -> VersionPublic:
    """One version by its number."""
    version = crud.get_version(session, automation_id=automation.id, number=number)
    if version is None:
        raise not_found(f"automation {automation.id} version", number)
    return VersionPublic.model_validate(version)


def _transition(session: SessionDep, automation: Automation, action: StatusAction) -> AutomationPublic:
    try:
        crud.change_status(session, automation=automation, action=action)
    except AutomationConflict as exc:
        raise _conflict(exc) from exc
    session.commit()
    return _public(session, automation)


@router.post("/{automation_id}/activate", response_model=AutomationPublic)
def activate(session: SessionDep, automation: AutomationDep) -> AutomationPublic:
    """Draft to active: triggers start runs from now on."""
    return _transition(session, automation, "activate")


@router.post("/{automation_id}/pause", response_model=AutomationPublic)
def pause(session: SessionDep, automation: AutomationDep) -> AutomationPublic:
    """Active to paused: no new entries, and running contacts are held before their next send."""
    return _transition(session, automation, "pause")


@router.post("/{automation_id}/resume", response_model=AutomationPublic)
def resume(session: SessionDep, automation: AutomationDep) -> AutomationPublic:
    """Paused to active: held sends go out, once."""
    return _transition(session, automation, "resume")


@router.post("/{automation_id}/archive", response_model=AutomationPublic)
def archive(session: SessionDep, automation: AutomationDep) -> AutomationPublic:
    """Any status to archived: takes no one and no new versions."""
    return _transition(session, automation, "archive")


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
    numbers = crud.version_numbers(session, version_ids=[run.version_id for run in rows])
    data = [
        RunPublic.of(run, version=numbers[run.version_id], ui_url=ui_link(settings, run.workflow_id))
        for run in rows
    ]
    return Page(data=data, next_cursor=next_cursor)


@router.get("/{automation_id}/report", response_model=AutomationReport)
def report(session: SessionDep, automation: AutomationDep) -> AutomationReport:
    """Per step of the latest version: contacts waiting there now and runs that ended there; run
    totals; and each goal's conversion (runs that reached it out of all runs)."""
    counts = crud.run_counts(session, automation_id=automation.id)
    latest = crud.latest_version(session, automation_id=automation.id)
    assert latest is not None, "every automation is created with its first version"
    definition = Definition.model_validate(latest.definition)
    steps = [
        StepReport(
            id=step.id,
            type=step.type,
            name=step.name,
            waiting_now=counts.waiting.get(step.id, 0),
            ended_here=counts.ended.get(step.id, 0),
        )
        for step in definition.steps
    ]
    # Runs on older versions may sit at steps the latest one dropped; they still count.
    known = {step.id for step in definition.steps}
    for step_id in sorted((counts.waiting.keys() | counts.ended.keys()) - known):
        steps.append(
            StepReport(
                id=step_id,
                type=None,
                name=None,
                waiting_now=counts.waiting.get(step_id, 0),
                ended_here=counts.ended.get(step_id, 0),
            )
        )
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
