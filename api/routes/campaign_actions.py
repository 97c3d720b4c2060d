"""/campaigns/{id}/send, /schedule, /pause, /resume, /cancel: sending a campaign and steering it.

The work is nurture.campaigns.actions, shared with `nurture campaigns send`: the row changes
first, then Temporal is told, and a refusal puts the row back. Here are what only the API
checks (a schedule's time and time zone) and the refusals as problem details.
"""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import SettingsDep, get_temporal
from api.errors import Problem, not_found
from api.params import IdPath
from api.routes.automation_deps import request_sessions
from api.routes.campaign_deps import campaign_public, check_timing, load_campaign
from api.schemas.campaigns import CampaignPublic, ScheduleBody
from nurture.campaigns.actions import (
    CANCEL,
    PAUSE,
    RESUME,
    SCHEDULE,
    SEND,
    Action,
    CampaignNotFound,
    CampaignRefused,
    CampaignWrongState,
    Prepare,
    StatusChange,
    change_status,
    tell_temporal,
)
from nurture.campaigns.timezones import LocalTime
from nurture.db.base import utcnow
from nurture.db.models import Campaign
from nurture.settings import Settings

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


def _scheduling(session: Session, campaign: Campaign, values: dict[str, Any]) -> datetime:
    """A schedule's time (the draft's own when not given) must be ahead; the workflow starts then,
    or in each contact's time zone at the first moment that wall-clock time comes anywhere."""
    due = values.get("scheduled_at") or campaign.scheduled_at
    if due is None or due <= utcnow():
        message = "must be in the future" if due else "give the time to send at"
        raise RequestValidationError(
            [{"loc": ("body", "scheduled_at"), "msg": message, "type": "value_error"}]
        )
    values["scheduled_at"] = due
    local = values.get("in_contact_timezone", campaign.in_contact_timezone)
    check_timing(in_contact_timezone=local, ab_test=campaign.ab_test)
    return LocalTime(due, values.get("timezone", campaign.timezone)).first() if local else due


async def _change(
    request: Request,
    campaign_id: int,
    action: Action,
    *,
    values: dict[str, Any] | None = None,
    prepare: Prepare | None = None,
) -> StatusChange:
    """Write the action's new status, or refuse: 404, 409 naming the state, 422 naming the field."""
    sessions = request_sessions(request)
    try:
        return await run_in_threadpool(
            lambda: change_status(sessions, campaign_id, action, values=values, prepare=prepare)
        )
    except CampaignNotFound as exc:
        raise not_found("campaign", campaign_id) from exc
    except CampaignWrongState as exc:
        raise Problem(409, "Conflict", str(exc)) from exc
    except CampaignRefused as exc:
        raise RequestValidationError(
            [{"loc": ("body", *loc), "msg": message, "type": "value_error"} for loc, message in exc.problems]
        ) from exc


def _answer(request: Request, settings: Settings, campaign_id: int) -> CampaignPublic:
    with request_sessions(request)() as session:
        return campaign_public(settings, load_campaign(session, campaign_id))


async def _tell(request: Request, settings: Settings, change: StatusChange) -> CampaignPublic:
    """Start or signal the campaign's workflow; if Temporal refuses, the row is back as it was."""
    starts = change.action in (SEND.name, SCHEDULE.name)
    try:
        await tell_temporal(lambda: get_temporal(request), settings, request_sessions(request), change)
    except WorkflowAlreadyStartedError as exc:
        raise Problem(
            409, "Conflict", f"campaign {change.campaign_id} was sent before: a campaign is sent once"
        ) from exc
    except RPCError as exc:
        if starts:
            raise Problem(503, "Temporal unavailable", f"The send did not start: {exc.message}") from exc
        if exc.status == RPCStatusCode.NOT_FOUND:
            now = await run_in_threadpool(_answer, request, settings, change.campaign_id)
            raise Problem(
                409,
                "Conflict",
                f"campaign {change.campaign_id} is {now.status.value}; its workflow is no longer running",
            ) from exc
        raise Problem(
            503,
            "Temporal unavailable",
            f"campaign {change.campaign_id} was not told to {change.action}: {exc.message}",
        ) from exc
    return await run_in_threadpool(_answer, request, settings, change.campaign_id)


@router.post("/{campaign_id}/send", response_model=CampaignPublic)
async def send_campaign(request: Request, settings: SettingsDep, campaign_id: IdPath) -> CampaignPublic:
    """Send a draft now, to everyone (not in each contact's time zone): it is `sending` at once, and
    its audience is fixed as the send starts."""
    return await _tell(request, settings, await _change(request, campaign_id, SEND))


@router.post("/{campaign_id}/schedule", response_model=CampaignPublic)
async def schedule_campaign(
    request: Request, settings: SettingsDep, campaign_id: IdPath, body: ScheduleBody
) -> CampaignPublic:
    """Send a draft at `scheduled_at` (the draft's own when left out); its audience is fixed then.

    With `in_contact_timezone`, each contact gets it when their clock shows the time scheduled_at
    shows in `timezone` (UTC when unset; contacts without a valid zone get it in that zone). The
    audience is then fixed when that time first comes anywhere (UTC+14), and each zone's
    recipients are sent when their time comes.
    """
    values = body.model_dump(include={"scheduled_at", "in_contact_timezone", "timezone"}, exclude_none=True)
    change = await _change(request, campaign_id, SCHEDULE, values=values, prepare=_scheduling)
    return await _tell(request, settings, change)


@router.post("/{campaign_id}/pause", response_model=CampaignPublic)
async def pause_campaign(request: Request, settings: SettingsDep, campaign_id: IdPath) -> CampaignPublic:
    """Hold a sending campaign: no new batch starts (those in flight finish) until it is resumed."""
    return await _tell(request, settings, await _change(request, campaign_id, PAUSE))


@router.post("/{campaign_id}/resume", response_model=CampaignPublic)
async def resume_campaign(request: Request, settings: SettingsDep, campaign_id: IdPath) -> CampaignPublic:
    """Carry on sending a paused campaign."""
    return await _tell(request, settings, await _change(request, campaign_id, RESUME))


@router.post("/{campaign_id}/cancel", response_model=CampaignPublic)
async def cancel_campaign(request: Request, settings: SettingsDep, campaign_id: IdPath) -> CampaignPublic:
    """Stop a scheduled, sending or paused campaign for good: recipients not yet sent get nothing."""
    return await _tell(request, settings, await _change(request, campaign_id, CANCEL))
