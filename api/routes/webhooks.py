"""Postmark's webhooks: delivery, bounce, complaint, open, click and subscription changes."""

import base64
import binascii
import json
import secrets
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
from nurture.email.engagement import engagement_of
from nurture.email.postmark_payloads import EVENT_MODELS, PostmarkPayloadError
from nurture.email.postmark_webhooks import handle_postmark_event
from nurture.observability.metrics import count_email_event, count_postmark_webhook
from nurture.schemas.email import Engagement
from nurture.settings import Settings

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

# Postmark retries anything but a 200 for about 10 hours, except a 403, which stops it for good:
# wrong credentials are a 401, so fixing them in Postmark lets the retries through.
CHALLENGE = {"WWW-Authenticate": 'Basic realm="postmark"'}


class PostmarkWebhookResult(BaseModel):
    """What Nurture made of one webhook."""

    recorded: bool
    repeat: bool
    event: str | None
    message_id: int | None
    detail: str


def check_credentials(request: Request, settings: Settings) -> None:
    """Raise a 401 unless the request carries the configured basic-auth credentials."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Problem(401, "Unauthorized", "HTTP basic authentication is required", headers=CHALLENGE)
    try:
        username, separator, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        separator = username = password = ""
    # Both compared in full every time, so the response time tells nothing about either.
    user_ok = secrets.compare_digest(username.encode(), settings.webhook_username.encode())
    password_ok = secrets.compare_digest(password.encode(), settings.webhook_password.encode())
    if not (separator and user_ok and password_ok):
        raise Problem(401, "Unauthorized", "The webhook credentials are wrong", headers=CHALLENGE)


# What any Postmark webhook route answers before it reads the payload.
WEBHOOK_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"model": ProblemDetails, "description": "Malformed JSON"},
    401: {"model": ProblemDetails, "description": "Missing or wrong basic-auth credentials"},
}
# Concurrent deliveries of one event race on its dedup key; each retry finds the winner's row.
ATTEMPTS = 3


def _handle(
    sessions: sessionmaker[Session], payload: dict[str, Any], settings: Settings
) -> tuple[PostmarkWebhookResult, str | None, Engagement | None]:
    for attempt in range(ATTEMPTS):
        with sessions() as session:
            try:
                handled = handle_postmark_event(session, payload, settings=settings)
                session.commit()
            except IntegrityError:
                # The same event arrived twice at once and the other request recorded it:
                # handling it again finds that event and answers as a repeat.
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            count_postmark_webhook(record_type=handled.record_type, outcome=handled.outcome.value)
            count_email_event(handled.event)
            message = handled.message
            result = PostmarkWebhookResult(
                recorded=handled.recorded,
                repeat=handled.repeat,
                event=handled.type.value if handled.type else None,
                message_id=message.id if message else None,
                detail=handled.detail,
            )
            if message is None or handled.event is None:
                return result, None, None
            return result, message.workflow_id, engagement_of(message, handled.event)
    raise AssertionError("unreachable")


@router.post(
    "/postmark",
    response_model=PostmarkWebhookResult,
    responses={
        **WEBHOOK_PROBLEMS,
        422: {
            "model": ProblemDetails,
            "description": "Not a Postmark event, or an invalid address; `errors` names the field",
        },
    },
    # The body is read by hand, after the credentials are checked; document what Postmark posts.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["RecordType"],
                        "properties": {
                            "RecordType": {
                                "type": "string",
                                "enum": list(EVENT_MODELS),
                            }
                        },
                        "description": "A Postmark outbound webhook payload, as Postmark documents it",
                    }
                }
            },
        }
    },
)
async def postmark_webhook(
    request: Request, settings: SettingsDep, background: BackgroundTasks
) -> PostmarkWebhookResult:
    """Record one Postmark outbound event (HTTP basic auth); a retry of the same event is a no-op.

    Events on messages Nurture did not send are acknowledged with a 200, so Postmark stops
    retrying them; a bounce or complaint among them still suppresses the address.
    """
    check_credentials(request, settings)
    try:
        payload = json.loads(await request.body())
    except ValueError as exc:
        raise Problem(400, "Malformed JSON", "The request body is not valid JSON") from exc
    try:
        # The database is synchronous: keep it off the event loop.
        result, workflow_id, engagement = await run_in_threadpool(
            _handle, request.app.state.sessions, payload, settings
        )
    except PostmarkPayloadError as exc:
        raise RequestValidationError(
            [{"loc": ("body", field), "msg": message, "type": "value_error"} for field, message in exc.errors]
        ) from exc
    if engagement is not None:
        # After the response, bounded and never raising: the event is committed already.
        background.add_task(
            deliver, request.app.state.temporal, workflow_id=workflow_id, engagement=engagement
        )
    return result
