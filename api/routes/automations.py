"""/automations: definitions saved as immutable versions, their status, runs and reports."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from api.deps import SessionDep, SettingsDep, get_temporal
from api.errors import Problem, conflict, invalid, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath
from api.schemas.automations import (
    AutomationCreate,
    AutomationPublic,
    AutomationReport,
    AutomationUpdate,
    EnrollmentAccepted,
    EnrollmentCreate,
    EnrollmentProgressPublic,
    GoalReport,
    MigrateBody,
    MigrationPublic,
    MovedRunPublic,
    NotMovedRunPublic,
    RunPublic,
    RunTotals,
    StatusChangePublic,
    StepReport,
    VersionCreate,
    VersionPublic,
)
from nurture.automations import control
from nurture.automations.bulk import Audience
from nurture.automations.check import check_definition
from nurture.automations.definition import Definition
from nurture.automations.enroll import enroll
from nurture.automations.problems import DefinitionRefused
from nurture.crud import automations as crud
from nurture.crud.automations import AutomationConflict, StatusAction
from nurture.crud.contacts import get_contact
from nurture.crud.lists import get_list
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


def _sessions(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


def _change_and_release(session: Session, automation: Automation, action: StatusAction) -> AutomationPublic:
    try:
        return _transition(session, automation, action)
    finally:
        # End the read that followed the commit: on SQLite an open transaction holds the lock the
        # workers need while this request talks to Temporal.
        session.rollback()


async def _pause_or_resume(
    request: Request, session: Session, automation: Automation, action: StatusAction
) -> StatusChangePublic:
    """Commit the status change, then signal every running run; Temporal down leaves a warning."""
    # Read before the rollback below expires the row (reading it again would reopen a transaction).
    automation_id = automation.id
    public = await run_in_threadpool(_change_and_release, session, automation, action)
    answer = StatusChangePublic(**public.model_dump())
    sessions = _sessions(request)

    def running() -> int:
        with sessions() as reading:
            return crud.count_running(reading, automation_id=automation_id)

    if not await run_in_threadpool(running):
        answer.signalled = 0
        return answer
    try:
        temporal = await get_temporal(request)
    except Problem as exc:
        answer.signalled = 0
        answer.warning = f"the running runs were not signalled to {action}: {exc.detail}"
        return answer
    signal: Literal["pause", "resume"] = "pause" if action == "pause" else "resume"
    report = await control.signal_runs(temporal, sessions, automation_id=automation_id, signal=signal)
    answer.signalled = report.signalled
    if report.error is not None:
        answer.warning = (
            f"only {report.signalled} running run(s) were signalled to {action}; the others were not: "
            f"{report.error}"
        )
    return answer


@router.post("/{automation_id}/pause", response_model=StatusChangePublic)
async def pause(request: Request, session: SessionDep, automation: AutomationDep) -> StatusChangePublic:
    """Active to paused: no new entries, and running contacts are held before their next send.

    `signalled` counts the running runs told to hold; `warning` says when Temporal could not be told.
    """
    return await _pause_or_resume(request, session, automation, "pause")


@router.post("/{automation_id}/resume", response_model=StatusChangePublic)
async def resume(request: Request, session: SessionDep, automation: AutomationDep) -> StatusChangePublic:
    """Paused to active: held sends go out, once. `signalled` and `warning` as for pause."""
    return await _pause_or_resume(request, session, automation, "resume")


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


def _check_enrollment(session: Session, automation: Automation, body: EnrollmentCreate) -> Audience | None:
    """Refuse what cannot be enrolled; the audience of a bulk enrollment (None for one contact)."""
    try:
        if automation.status != AutomationStatus.ACTIVE:
            raise Problem(
                409,
                "Conflict",
                f"automation {automation.id} is {automation.status.value}; only an active automation "
                "takes enrollments",
            )
        if body.contact_id is not None:
            if get_contact(session, contact_id=body.contact_id) is None:
                raise invalid("contact_id", f"contact {body.contact_id} does not exist")
            return None
        if body.list_id is not None:
            if get_list(session, list_id=body.list_id) is None:
                raise invalid("list_id", f"list {body.list_id} does not exist")
            return Audience(subscribed_to=body.list_id)
        rules = body.filter
        assert rules is not None, "EnrollmentCreate holds exactly one of contact_id, list_id, filter"
        if rules.list_id is not None and get_list(session, list_id=rules.list_id) is None:
            raise invalid("filter.list_id", f"list {rules.list_id} does not exist")
        return Audience(
            tag=rules.tag,
            status=rules.status.value if rules.status else None,
            list_id=rules.list_id,
            q=rules.q,
        )
    finally:
        # Nothing is held while Temporal starts runs whose first activity writes to the database.
        session.rollback()


def _run_public(sessions: sessionmaker[Session], settings: SettingsDep, run_id: int) -> RunPublic:
    with sessions() as session:
        run = session.get(AutomationRun, run_id)
        assert run is not None, "enroll() writes the run's row before it starts the workflow"
        numbers = crud.version_numbers(session, version_ids=[run.version_id])
        return RunPublic.of(run, version=numbers[run.version_id], ui_url=ui_link(settings, run.workflow_id))


@router.post(
    "/{automation_id}/enrollments",
    status_code=201,
    response_model=RunPublic | EnrollmentAccepted,
    responses={202: {"model": EnrollmentAccepted, "description": "A bulk enrollment started"}},
)
async def create_enrollment(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    automation: AutomationDep,
    body: EnrollmentCreate,
    response: Response,
) -> RunPublic | EnrollmentAccepted:
    """Enroll one contact now (201 with its run, 409 with the entry rule's reason), or a list's
    subscribers or a filtered set of contacts in the background (202 with a progress URL)."""
    # Read before _check_enrollment's rollback expires the row.
    automation_id = automation.id
    audience = await run_in_threadpool(_check_enrollment, session, automation, body)
    # Only now: bad input is named even while Temporal is down.
    temporal = await get_temporal(request)
    if audience is None:
        assert body.contact_id is not None
        return await _enroll_one(request, settings, temporal, automation_id, body.contact_id)
    workflow_id = await control.start_enrollment(
        temporal, settings, automation_id=automation_id, audience=audience
    )
    progress_url = str(
        request.url_for("read_enrollment", automation_id=automation_id, enrollment_id=workflow_id)
    )
    response.status_code = 202
    response.headers["Location"] = progress_url
    return EnrollmentAccepted(
        id=workflow_id, progress_url=progress_url, ui_url=ui_link(settings, workflow_id)
    )


async def _enroll_one(
    request: Request, settings: SettingsDep, temporal: Client, automation_id: int, contact_id: int
) -> RunPublic:
    sessions = _sessions(request)
    enrollment = await enroll(
        temporal, sessions, settings, automation_id=automation_id, contact_id=contact_id
    )
    if not enrollment.started:
        raise Problem(409, "Conflict", f"contact {contact_id} was not enrolled: {enrollment.reason}")
    assert enrollment.run_id is not None
    return await run_in_threadpool(_run_public, sessions, settings, enrollment.run_id)


EnrollmentIdPath = Annotated[str, Path(max_length=200, description="The id a bulk enrollment answered with")]


@router.get("/{automation_id}/enrollments/{enrollment_id}", response_model=EnrollmentProgressPublic)
async def read_enrollment(
    request: Request, settings: SettingsDep, automation_id: IdPath, enrollment_id: EnrollmentIdPath
) -> EnrollmentProgressPublic:
    """How far a bulk enrollment has got; `done` once every contact has been tried."""
    if not enrollment_id.startswith(f"enrollment:{automation_id}:"):
        raise not_found(f"automation {automation_id} enrollment", enrollment_id)
    temporal = await get_temporal(request)
    try:
        view = await control.enrollment_view(temporal, workflow_id=enrollment_id)
    except RPCError as exc:
        raise Problem(503, "Temporal unavailable", f"No progress from Temporal: {exc.message}") from exc
    if view is None:
        raise not_found(f"automation {automation_id} enrollment", enrollment_id)
    progress = view.progress
    if progress is None:
        raise Problem(
            503,
            "Temporal unavailable",
            f"enrollment {enrollment_id} is {view.status}; no worker reported its counts",
        )
    return EnrollmentProgressPublic(
        id=enrollment_id,
        automation_id=progress.automation_id,
        status=view.status,
        done=progress.done,
        started=progress.started,
        refused=progress.refused,
        refused_total=progress.refused_total,
        failed=progress.failed,
        errors=progress.errors,
        contacts_seen=progress.contacts_seen,
        stopped=progress.stopped,
        started_at=progress.started_at,
        finished_at=progress.finished_at,
        ui_url=ui_link(settings, enrollment_id),
    )


def _check_version(session: Session, automation: Automation, number: int | None) -> None:
    try:
        if (
            number is not None
            and crud.get_version(session, automation_id=automation.id, number=number) is None
        ):
            raise invalid("to_version", f"automation {automation.id} has no version {number}")
    finally:
        session.rollback()


@router.post("/{automation_id}/migrate", response_model=MigrationPublic)
async def migrate(
    request: Request, session: SessionDep, automation: AutomationDep, body: MigrateBody | None = None
) -> MigrationPublic:
    """Move running runs on older versions to `to_version` (the latest by default), each at the step
    with the same id; runs whose step that version lacks stay where they are, with the reason."""
    number = body.to_version if body else None
    # Read before _check_version's rollback expires the row.
    automation_id = automation.id
    await run_in_threadpool(_check_version, session, automation, number)
    temporal = await get_temporal(request)
    try:
        report = await control.migrate_runs(
            temporal, _sessions(request), automation_id=automation_id, to_version=number
        )
    except RPCError as exc:
        raise Problem(503, "Temporal unavailable", f"Migration stopped: {exc.message}") from exc
    return MigrationPublic(
        version=report.version,
        moved=[MovedRunPublic(run_id=m.run_id, workflow_id=m.workflow_id, step=m.step) for m in report.moved],
        not_moved=[
            NotMovedRunPublic(run_id=n.run_id, workflow_id=n.workflow_id, reason=n.reason)
            for n in report.not_moved
        ],
    )
