"""/webhooks/postmark/inbound: a contact's reply to a platform 1:1 email, as Postmark's inbound
webhook posts it (HTTP basic auth), onto the message, the contact's stream and Emails lists."""

import json
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.delivery import deliver
from api.deps import SettingsDep
from api.errors import Problem, ProblemDetails
from api.routes.webhooks import WEBHOOK_PROBLEMS, check_credentials
from nurture.db.models import Message
from nurture.email.engagement import engagement_of
from nurture.email.postmark_inbound import PostmarkInboundError, parse_inbound
from nurture.email.replies import record_reply
from nurture.schemas.email import Engagement
from nurture.settings import Settings
from nurture.tracking.replies import replied_message

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class InboundResult(BaseModel):
    """What became of an inbound email: recorded as a reply to a message, or why not."""

    recorded: bool
    message_id: int | None = None
    detail: str


def _record(
    sessions: sessionmaker[Session], payload: dict[str, Any], settings: Settings
) -> tuple[InboundResult, str | None, Engagement | None]:
    reply = parse_inbound(payload)
    message_id = replied_message(settings, reply.mailbox_hash)
    if message_id is None:
        # Acknowledged, so Postmark stops retrying: it is no reply to an email of ours.
        return InboundResult(recorded=False, detail="not a reply to a Nurture email"), None, None
    if reply.automatic is not None:
        return (
            InboundResult(recorded=False, message_id=message_id, detail=f"automatic: {reply.automatic}"),
            None,
            None,
        )
    with sessions() as session:
        message = session.get(Message, message_id)
        if message is None:
            return InboundResult(recorded=False, detail=f"message {message_id} no longer exists"), None, None
        try:
            event = record_reply(session, message=message, reply=reply, source="postmark")
            session.commit()
        except IntegrityError:
            event = None  # the same reply, recorded by a concurrent delivery
        if event is None:
            return InboundResult(recorded=False, message_id=message_id, detail="recorded before"), None, None
        result = InboundResult(recorded=True, message_id=message_id, detail="reply recorded")
        return result, message.workflow_id, engagement_of(message, event)


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
        result, workflow_id, engagement = await run_in_threadpool(
            _record, request.app.state.sessions, payload, settings
        )
    except PostmarkInboundError as exc:
        raise RequestValidationError(
            [{"loc": ("body", exc.field), "msg": exc.problem, "type": "value_error"}]
        ) from exc
    if engagement is not None:
        # After the response: the reply is committed already; a waiting "replied" branch hears it.
        background.add_task(
            deliver, request.app.state.temporal, workflow_id=workflow_id, engagement=engagement
        )
    return result
