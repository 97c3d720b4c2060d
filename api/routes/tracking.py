"""Public tracking endpoints: the open pixel and the click redirect, both behind signed tokens."""

import base64
from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from api.delivery import client_ip, deliver
from api.deps import SessionDep, SettingsDep
from api.errors import Problem
from nurture.crud.engagement import record_engagement
from nurture.crud.messages import get_message, link_url
from nurture.db.base import utcnow
from nurture.db.models import EngagementType, Message
from nurture.email.engagement import engagement_of
from nurture.observability.metrics import count_email_event
from nurture.settings import Settings
from nurture.tracking.machine import machine_reason
from nurture.tracking.tokens import signing_keys, verify

router = APIRouter(prefix="/t", tags=["tracking"])

# A transparent 1x1 GIF, the smallest image every mail client shows.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
# Tracking URLs are per recipient: search engines must not index them, caches must not keep them
# (a cached pixel or redirect would hide every later open or click).
HEADERS = {"X-Robots-Tag": "noindex", "Cache-Control": "no-store, max-age=0"}


def _not_found() -> Problem:
    # One answer for forged, altered and stale links: nothing to learn from probing.
    return Problem(404, "Not found", "This tracking link is not valid", headers=HEADERS)


def _record(
    session: Session,
    request: Request,
    *,
    message: Message,
    type: EngagementType,
    kind: Literal["open", "click"],
    url: str | None = None,
    background: BackgroundTasks,
) -> None:
    agent = request.headers.get("user-agent")
    ip = client_ip(request)
    since_sent = (utcnow() - message.sent_at).total_seconds() if message.sent_at else None
    event = record_engagement(
        session,
        message=message,
        type=type,
        source="pixel" if kind == "open" else "link",
        url=url,
        machine_reason=machine_reason(kind=kind, user_agent=agent, ip=ip, seconds_since_sent=since_sent),
        # The address only feeds machine detection, as on Postmark's webhooks: it is not stored.
        data={"user_agent": agent},
    )
    session.commit()
    count_email_event(event)
    if event is not None:
        # After the response: a person waits for neither the image nor the redirect on Temporal.
        background.add_task(
            deliver,
            request.app.state.temporal,
            workflow_id=message.workflow_id,
            engagement=engagement_of(message, event),
        )


def _opened(session: Session, settings: Settings, token: str) -> Message:
    claims = verify("open", token, keys=signing_keys(settings))
    message = get_message(session, message_id=claims.message_id) if claims else None
    if message is None:
        raise _not_found()
    return message


def _clicked(session: Session, settings: Settings, token: str) -> tuple[Message, str]:
    claims = verify("click", token, keys=signing_keys(settings))
    message = get_message(session, message_id=claims.message_id) if claims else None
    url = link_url(session, message=message, position=claims.position) if claims and message else None
    if message is None or url is None:
        raise _not_found()
    return message, url


def _pixel() -> Response:
    return Response(PIXEL, media_type="image/gif", headers=HEADERS)


PIXEL_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/gif": {}}, "description": "A transparent 1x1 GIF"}
}


@router.get("/o/{token}.gif", response_class=Response, responses=PIXEL_RESPONSES)
def open_pixel(
    token: str, request: Request, session: SessionDep, settings: SettingsDep, background: BackgroundTasks
) -> Response:
    """Record an open of the message the token names and return a transparent pixel."""
    message = _opened(session, settings, token)
    _record(session, request, message=message, type=EngagementType.OPENED, kind="open", background=background)
    return _pixel()


# Link checkers and some mail clients send HEAD first: answer as GET would, but no one read anything.
@router.head("/o/{token}.gif", response_class=Response, responses=PIXEL_RESPONSES)
def open_pixel_head(token: str, session: SessionDep, settings: SettingsDep) -> Response:
    """The pixel's headers, or a 404 for a link that is not valid; records nothing."""
    _opened(session, settings, token)
    return _pixel()


@router.get("/c/{token}", response_class=RedirectResponse, status_code=302)
def click(
    token: str, request: Request, session: SessionDep, settings: SettingsDep, background: BackgroundTasks
) -> RedirectResponse:
    """Record a click and redirect to the link stored for the token; the request chooses no target."""
    message, url = _clicked(session, settings, token)
    _record(
        session,
        request,
        message=message,
        type=EngagementType.CLICKED,
        kind="click",
        url=url,
        background=background,
    )
    return RedirectResponse(url, status_code=302, headers=HEADERS)


@router.head("/c/{token}", response_class=RedirectResponse, status_code=302)
def click_head(token: str, session: SessionDep, settings: SettingsDep) -> RedirectResponse:
    """The redirect's headers, or a 404 for a link that is not valid; records no click."""
    _, url = _clicked(session, settings, token)
    return RedirectResponse(url, status_code=302, headers=HEADERS)
