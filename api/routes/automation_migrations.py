"""/automations/{id}/migrate: move running runs on older versions to another version."""

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session
from temporalio.service import RPCError

from api.deps import SessionDep, get_temporal
from api.errors import Problem, invalid
from api.routes.automation_deps import AutomationDep, request_sessions
from api.schemas.automations import MigrateBody, MigrationPublic, MovedRunPublic, NotMovedRunPublic
from nurture.automations import control
from nurture.crud import automations as crud
from nurture.db.models import Automation

router = APIRouter(prefix="/automations", tags=["automations"])


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
            temporal, request_sessions(request), automation_id=automation_id, to_version=number
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
