"""/automations/{id}/enrollments: enroll one contact now, or a list or filter in the background."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from api.deps import SessionDep, SettingsDep, get_temporal
from api.errors import Problem, invalid, not_found
from api.params import IdPath
from api.routes.automation_deps import AutomationDep, request_sessions
from api.routes.automation_runs import runs_public
from api.schemas.automations import (
    EnrollmentAccepted,
    EnrollmentCreate,
    EnrollmentProgressPublic,
    RunPublic,
)
from nurture.automations import control
from nurture.automations.bulk import Audience, refusal_category
from nurture.automations.enroll import enroll
from nurture.crud.contacts import get_contact
from nurture.crud.lists import get_list
from nurture.db.models import Automation, AutomationRun, AutomationStatus
from nurture.observability.metrics import count_enrollment
from nurture.settings import Settings
from nurture.temporal.client import ui_link

router = APIRouter(prefix="/automations", tags=["automations"])

EnrollmentIdPath = Annotated[str, Path(max_length=200, description="The id a bulk enrollment answered with")]


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


def _run_public(sessions: sessionmaker[Session], settings: Settings, run_id: int) -> RunPublic:
    with sessions() as session:
        run = session.get(AutomationRun, run_id)
        assert run is not None, "enroll() writes the run's row before it starts the workflow"
        return runs_public(session, settings, [run])[0]


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
    request: Request, settings: Settings, temporal: Client, automation_id: int, contact_id: int
) -> RunPublic:
    sessions = request_sessions(request)
    enrollment = await enroll(
        temporal, sessions, settings, automation_id=automation_id, contact_id=contact_id
    )
    count_enrollment("api", result="started" if enrollment.started else refusal_category(enrollment.reason))
    if not enrollment.started:
        raise Problem(409, "Conflict", f"contact {contact_id} was not enrolled: {enrollment.reason}")
    assert enrollment.run_id is not None
    return await run_in_threadpool(_run_public, sessions, settings, enrollment.run_id)


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
