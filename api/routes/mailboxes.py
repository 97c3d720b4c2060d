"""/users/{id}/mailbox: connect a user's own mailbox (checked by logging in, its secret sealed at
rest) so their 1:1 email goes out over SMTP and replies are read over IMAP; disconnect it."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session
from temporalio.common import WorkflowIDConflictPolicy

from api.deps import SessionDep, SettingsDep, get_temporal
from api.errors import not_found
from api.params import IdPath
from nurture.crud.users import get_user
from nurture.db.models import Mailbox
from nurture.mailbox.check import MailboxCheckFailed, check_mailbox
from nurture.mailbox.config import MailboxConfig
from nurture.mailbox.secrets import seal
from nurture.mailbox.store import mailbox_of
from nurture.schemas.fields import Output
from nurture.settings import Settings
from nurture.temporal import search_attributes
from workflows.mailbox_sync import MailboxSyncInput, MailboxSyncWorkflow, workflow_id_for

router = APIRouter(prefix="/users", tags=["mailboxes"])


class MailboxPublic(Output):
    """A connected mailbox: its settings (never its secret) and how its sync of replies goes."""

    user_id: int
    settings: dict[str, Any]
    created_at: datetime
    last_synced_at: datetime | None
    last_error: str | None
    # The run that reads its replies, in the Temporal UI.
    sync_workflow_id: str | None = None


def _require_user(session: Session, user_id: int) -> None:
    try:
        if get_user(session, user_id=user_id) is None:
            raise not_found("user", user_id)
    finally:
        session.rollback()


def _save(
    session: Session, settings: Settings, user_id: int, config: MailboxConfig, sent_folder: str
) -> Mailbox:
    stored = config.model_dump(mode="json", exclude={"secret"}) | {"sent_folder": sent_folder}
    mailbox = mailbox_of(session, user_id)
    if mailbox is None:
        mailbox = Mailbox(user_id=user_id, last_uid=0)
        session.add(mailbox)
    # Another account (or the same one again): its sync starts afresh.
    mailbox.settings, mailbox.secret_sealed = stored, seal(config.secret_value(), key=settings.secret_key)
    mailbox.uid_validity, mailbox.last_uid, mailbox.last_error = None, 0, None
    session.commit()
    return mailbox


@router.put("/{user_id}/mailbox", response_model=MailboxPublic)
async def connect_mailbox(
    session: SessionDep, settings: SettingsDep, user_id: IdPath, body: MailboxConfig, request: Request
) -> MailboxPublic:
    """Connect (or replace) the user's mailbox, after logging in to its SMTP and IMAP servers.

    A server that refuses the connection or the login is a 422 naming the field to fix
    (`imap_host`, `smtp_port`, `secret`, ...); nothing is saved then.
    """
    await run_in_threadpool(_require_user, session, user_id)
    temporal = await get_temporal(request)
    try:
        # Blocking network checks: off the event loop.
        sent_folder = await run_in_threadpool(check_mailbox, body)
    except MailboxCheckFailed as exc:
        raise RequestValidationError(
            [{"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from exc
    mailbox = await run_in_threadpool(_save, session, settings, user_id, body, sent_folder)
    # One sync per user: a reconnect keeps the running one, which reads the new settings.
    handle = await temporal.start_workflow(
        MailboxSyncWorkflow.run,
        MailboxSyncInput(user_id=user_id, every_seconds=settings.mailbox_sync_seconds),
        id=workflow_id_for(user_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=search_attributes.mailbox_attributes(),
        static_summary=f"Read replies from the mailbox of user {user_id}",
    )
    return MailboxPublic.model_validate(mailbox).model_copy(update={"sync_workflow_id": handle.id})


@router.get("/{user_id}/mailbox", response_model=MailboxPublic)
def read_mailbox(session: SessionDep, user_id: IdPath) -> MailboxPublic:
    """The user's connected mailbox; 404 when their 1:1 email goes through the platform."""
    mailbox = mailbox_of(session, user_id)
    if mailbox is None:
        raise not_found("mailbox of user", user_id)
    return MailboxPublic.model_validate(mailbox)


@router.delete("/{user_id}/mailbox", status_code=204)
def disconnect_mailbox(session: SessionDep, user_id: IdPath) -> Response:
    """Disconnect the mailbox: the user's 1:1 email goes through the platform again."""
    mailbox = mailbox_of(session, user_id)
    if mailbox is None:
        raise not_found("mailbox of user", user_id)
    session.delete(mailbox)
    session.commit()
    return Response(status_code=204)
