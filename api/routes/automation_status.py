"""/automations/{id}/activate, pause, resume, archive: status changes, and signalling running runs."""

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.deps import SessionDep, get_temporal
from api.errors import Problem
from api.routes.automation_deps import (
    AutomationDep,
    automation_conflict,
    automation_public,
    request_sessions,
)
from api.schemas.automations import AutomationPublic, StatusChangePublic
from nurture.automations import control
from nurture.crud import automations as crud
from nurture.crud.automations import AutomationConflict, StatusAction
from nurture.db.models import Automation

router = APIRouter(prefix="/automations", tags=["automations"])


def _transition(session: Session, automation: Automation, action: StatusAction) -> AutomationPublic:
    try:
        crud.change_status(session, automation=automation, action=action)
    except AutomationConflict as exc:
        raise automation_conflict(exc) from exc
    session.commit()
    return automation_public(session, automation)


@router.post("/{automation_id}/activate", response_model=AutomationPublic)
def activate(session: SessionDep, automation: AutomationDep) -> AutomationPublic:
    """Draft to active: triggers start runs from now on."""
    return _transition(session, automation, "activate")


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
    sessions = request_sessions(request)

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
