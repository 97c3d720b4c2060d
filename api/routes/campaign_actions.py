"""/campaigns/{id}/send, /schedule, /pause, /resume, /cancel: sending a campaign and steering it.

Sending writes the new status before its workflow starts, and puts the old one back if the start
fails, so the row never claims a send that is not running. Pause, resume and cancel write the
status, then signal the workflow (`campaign:{id}`), which keeps the recipients' outcomes and
writes how the campaign ended.
"""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import SettingsDep, get_temporal
from api.errors import Problem
from api.params import IdPath
from api.routes.automation_deps import request_sessions
from api.routes.campaign_deps import (
    CANCELLED,
    DRAFT,
    PAUSED,
    SCHEDULED,
    SENDING,
    campaign_public,
    check_references,
    load_campaign,
    wrong_state,
)
from api.schemas.campaigns import (
    CampaignPublic,
    ScheduleBody,
)
from nurture.campaigns.control import campaign_workflow_id, signal_campaign, start_campaign
from nurture.db.base import utcnow
from nurture.db.models import Campaign, CampaignStatus
from nurture.db.session import transaction
from nurture.settings import Settings

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


# Sending and steering: the row changes first, then Temporal is told; a refusal puts the row back.


class _Change:
    """A status change written to the row, and what to put back if Temporal refuses it."""

    def __init__(self, campaign: Campaign, values: dict[str, Any]) -> None:
        self.campaign_id = campaign.id
        self.name = campaign.name
        self.before = {name: getattr(campaign, name) for name in values}
        self.after = values


def _due(campaign: Campaign, given: datetime | None) -> datetime:
    due = given or campaign.scheduled_at
    if due is None or due <= utcnow():
        message = "must be in the future" if due else "give the time to send at"
        raise RequestValidationError(
            [{"loc": ("body", "scheduled_at"), "msg": message, "type": "value_error"}]
        )
    return due


def _change(
    sessions: sessionmaker[Session],
    campaign_id: int,
    *,
    allowed: tuple[CampaignStatus, ...],
    done: str,
    values: dict[str, Any],
) -> _Change:
    """Check the campaign may go to `values["status"]` and write `values`; a sent or scheduled one
    is checked as on creation, and a scheduled one must have a time ahead."""
    values = dict(values)
    with transaction(sessions) as session:
        campaign = load_campaign(session, campaign_id, for_update=True)
        if campaign.status not in allowed:
            raise wrong_state(campaign, allowed, done)
        if values["status"] in (SENDING, SCHEDULED):
            values["workflow_id"] = campaign_workflow_id(campaign_id)
            refs = {"template_id": campaign.template_id, "audience": campaign.audience}
            check_references(session, {**refs, "ab_test": campaign.ab_test})
        if values["status"] == SCHEDULED:
            values["scheduled_at"] = _due(campaign, values.get("scheduled_at"))
        change = _Change(campaign, values)
        for name, value in values.items():
            setattr(campaign, name, value)
        return change


def _undo(sessions: sessionmaker[Session], change: _Change) -> None:
    """Put the row back as it was, unless the workflow has written its own status since."""
    with transaction(sessions) as session:
        campaign = load_campaign(session, change.campaign_id, for_update=True)
        if campaign.status == change.after["status"]:
            for name, value in change.before.items():
                setattr(campaign, name, value)


def _answer(sessions: sessionmaker[Session], settings: Settings, campaign_id: int) -> CampaignPublic:
    with sessions() as session:
        return campaign_public(settings, load_campaign(session, campaign_id))


async def _start(request: Request, settings: Settings, change: _Change) -> CampaignPublic:
    """Start the campaign's workflow (held until its time when scheduled), or put the row back."""
    sessions = request_sessions(request)
    try:
        temporal = await get_temporal(request)
        await start_campaign(
            temporal,
            settings,
            campaign_id=change.campaign_id,
            name=change.name,
            scheduled_at=change.after.get("scheduled_at"),
        )
    except Exception as exc:
        await run_in_threadpool(_undo, sessions, change)
        if isinstance(exc, WorkflowAlreadyStartedError):
            raise Problem(
                409, "Conflict", f"campaign {change.campaign_id} was sent before: a campaign is sent once"
            ) from exc
        if isinstance(exc, RPCError):
            raise Problem(503, "Temporal unavailable", f"The send did not start: {exc.message}") from exc
        raise
    return await run_in_threadpool(_answer, sessions, settings, change.campaign_id)


async def _signal(request: Request, settings: Settings, change: _Change, signal: str) -> CampaignPublic:
    """Tell the running workflow; if it cannot be told, put the row back."""
    sessions = request_sessions(request)
    try:
        temporal = await get_temporal(request)
        await signal_campaign(temporal, campaign_id=change.campaign_id, signal=signal)
    except Exception as exc:
        await run_in_threadpool(_undo, sessions, change)
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            now = await run_in_threadpool(_answer, sessions, settings, change.campaign_id)
            raise Problem(
                409,
                "Conflict",
                f"campaign {change.campaign_id} is {now.status.value}; its workflow is no longer running",
            ) from exc
        if isinstance(exc, RPCError):
            raise Problem(
                503,
                "Temporal unavailable",
                f"campaign {change.campaign_id} was not told to {signal}: {exc.message}",
            ) from exc
        raise
    return await run_in_threadpool(_answer, sessions, settings, change.campaign_id)


async def _transition(
    request: Request,
    campaign_id: int,
    *,
    allowed: tuple[CampaignStatus, ...],
    done: str,
    values: dict[str, Any],
) -> _Change:
    return await run_in_threadpool(
        lambda: _change(request_sessions(request), campaign_id, allowed=allowed, done=done, values=values)
    )


@router.post("/{campaign_id}/send", response_model=CampaignPublic)
async def send_campaign(request: Request, settings: SettingsDep, campaign_id: IdPath) -> CampaignPublic:
    """Send a draft now: it is `sending` at once, and its audience is fixed as the send starts."""
    values: dict[str, Any] = {"status": SENDING, "scheduled_at": None}
    change = await _transition(request, campaign_id, allowed=(DRAFT,), done="sent", values=values)
    return await _start(request, settings, change)


@router.post("/{campaign_id}/schedule", response_model=CampaignPublic)
async def schedule_campaign(
    request: Request, settings: SettingsDep, campaign_id: IdPath, body: ScheduleBody
) -> CampaignPublic:
    """Send a draft at `scheduled_at` (the draft's own when left out); its audience is fixed then."""
    values: dict[str, Any] = {"status": SCHEDULED, "scheduled_at": body.scheduled_at}
    change = await _transition(request, campaign_id, allowed=(DRAFT,), done="scheduled", values=values)
    return await _start(request, settings, change)


@router.post("/{campaign_id}/pause", response_model=CampaignPublic)
async def pause_campaign(request: Request, settings: SettingsDep, campaign_id: IdPath) -> CampaignPublic:
    """Hold a sending campaign: no new batch starts (those in flight finish) until it is resumed."""
    values: dict[str, Any] = {"status": PAUSED}
    change = await _transition(request, campaign_id, allowed=(SENDING,), done="paused", values=values)
    return await _signal(request, settings, change, "pause")


@router.post("/{campaign_id}/resume", response_model=CampaignPublic)
async def resume_campaign(request: Request, settings: SettingsDep, campaign_id: IdPath) -> CampaignPublic:
    """Carry on sending a paused campaign."""
    values: dict[str, Any] = {"status": SENDING}
    change = await _transition(request, campaign_id, allowed=(PAUSED,), done="resumed", values=values)
    return await _signal(request, settings, change, "resume")


@router.post("/{campaign_id}/cancel", response_model=CampaignPublic)
async def cancel_campaign(request: Request, settings: SettingsDep, campaign_id: IdPath) -> CampaignPublic:
    """Stop a scheduled, sending or paused campaign for good: recipients not yet sent get nothing."""
    values: dict[str, Any] = {"status": CANCELLED}
    allowed = (SCHEDULED, SENDING, PAUSED)
    change = await _transition(request, campaign_id, allowed=allowed, done="cancelled", values=values)
    return await _signal(request, settings, change, "cancel")
