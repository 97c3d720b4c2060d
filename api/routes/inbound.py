"""/webhooks/postmark/inbound: a contact's reply to a platform 1:1 email, as Postmark's inbound
webhook posts it (HTTP basic auth), onto the message, the contact's stream and Emails lists."""

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.automation_signals import dispatch
from api.delivery import deliver
from api.deps import SettingsDep
from api.errors import Problem, ProblemDetails
from api.routes.webhooks import WEBHOOK_PROBLEMS, check_credentials
from nurture.automations.triggers import Change
from nurture.db.models import Message
from nurture.email.engagement import engagement_of
from nurture.email.postmark_inbound import PostmarkInboundError, parse_inbound
from nurture.email.replies import record_reply, reply_changes
from nurture.observability.metrics import count_email_event
from nurture.schemas.email import Engagement
from nurture.settings import Settings
from nurture.tracking.replies import replied_message

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class InboundResult(BaseModel):
    """What became of an inbound email: recorded as a reply to a message, or why not."""

    recorded: bool
    message_id: int | None = None
    detail: str


@dataclass(frozen=True)
class _Recorded:
    """An inbound email's answer, and what a recorded reply goes on to tell."""

    result: InboundResult
    workflow_id: str | None = None
    engagement: Engagement | None = None
    contact_id: int | None = None
    changes: list[Change] = field(default_factory=list)


def _record(sessions: sessionmaker[Session], payload: dict[str, Any], settings: Settings) -> _Recorded:
    reply = parse_inbound(payload)
    message_id = replied_message(settings, reply.mailbox_hash)
    if message_id is None:
        # Acknowledged, so Postmark stops retrying: it is no reply to an email of ours.
        return _Recorded(InboundResult(recorded=False, detail="not a reply to a Nurture email"))
    if reply.automatic is not None:
        detail = f"automatic: {reply.automatic}"
        return _Recorded(InboundResult(recorded=False, message_id=message_id, detail=detail))
    with sessions() as session:
        message = session.get(Message, message_id)
        if message is None:
            return _Recorded(InboundResult(recorded=False, detail=f"message {message_id} no longer exists"))
        try:
            event = record_reply(session, message=message, reply=reply, source="postmark")
            session.commit()
            count_email_event(event)
        except IntegrityError:
            event = None  # the same reply, recorded by a concurrent delivery
        if event is None:
            return _Recorded(InboundResult(recorded=False, message_id=message_id, detail="recorded before"))
        return _Recorded(
            InboundResult(recorded=True, message_id=message_id, detail="reply recorded"),
            workflow_id=message.workflow_id,
            engagement=engagement_of(message, event),
            contact_id=message.contact_id,
            changes=reply_changes(message),
        )


@router.post(
    "/postmark/inbound",
    response_model=InboundResult,
    responses={
        **WEBHOOK_PROBLEMS,
        422: {
            "model": ProblemDetails,
            "description": "Not a Postmark inbound email; `errors` names the field",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "description": "Postmark's inbound webhook payload"}
                }
            },
        }
    },
)
async def postmark_inbound(
    request: Request, settings: SettingsDep, background: BackgroundTasks
) -> InboundResult:
    """Record a reply to a platform 1:1 email; a retry of the same reply is a no-op.

    Emails that answer no Nurture email, and automatic replies, are acknowledged with a 200 and
    not recorded, so Postmark stops retrying them.
    """
    check_credentials(request, settings)
    try:
        payload = json.loads(await request.body())
    except ValueError as exc:
        raise Problem(400, "Malformed JSON", "The request body is not valid JSON") from exc
    try:
        recorded = await run_in_threadpool(_record, request.app.state.sessions, payload, settings)
    except PostmarkInboundError as exc:
        raise RequestValidationError(
            [{"loc": ("body", exc.field), "msg": exc.problem, "type": "value_error"}]
        ) from exc
    # After the response, the reply being committed: a waiting "replied" branch hears it, and the
    # automations a reply triggers start.
    if recorded.engagement is not None:
        background.add_task(
            deliver,
            request.app.state.temporal,
            workflow_id=recorded.workflow_id,
            engagement=recorded.engagement,
        )
    if recorded.changes and recorded.contact_id is not None:
        background.add_task(dispatch, request.app, contact_id=recorded.contact_id, changes=recorded.changes)
    return recorded.result
