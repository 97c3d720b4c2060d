"""/campaigns: drafts, and sending them (now or at a time) with pause, resume, cancel and their numbers.

A campaign is changed only while a draft. Sending writes the new status before its workflow
starts, and puts the old one back if the start fails, so the row never claims a send that is not
running. Pause, resume and cancel write the status, then signal the workflow (`campaign:{id}`),
which keeps the recipients' outcomes and writes how the campaign ended.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import SessionDep, SettingsDep, get_temporal
from api.errors import Problem, not_found
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath
from api.routes.automation_deps import request_sessions
from api.schemas.campaigns import (
    CampaignCreate,
    CampaignDetail,
    CampaignPublic,
    CampaignUpdate,
    ScheduleBody,
    stored,
)
from nurture.campaigns.control import campaign_workflow_id, signal_campaign, start_campaign
from nurture.campaigns.stats import campaign_stats
from nurture.db.base import utcnow
from nurture.db.models import Campaign, CampaignStatus, MailingList, Template, TemplateKind
from nurture.db.session import transaction
from nurture.settings import Settings
from nurture.templates.errors import TemplateError
from nurture.templates.validate import check_template_source
from nurture.temporal.client import ui_link

router = APIRouter(prefix="/campaigns", tags=["campaigns"])

PageDep = Annotated[PageParams, Depends(page_params)]
DRAFT, SCHEDULED = CampaignStatus.DRAFT, CampaignStatus.SCHEDULED
SENDING, PAUSED, CANCELLED = CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.CANCELLED
UPDATABLE = (
    "name",
    "template_id",
    "from_email",
    "audience",
    "scheduled_at",
    "in_contact_timezone",
    "send_rate",
    "ab_test",
)
Problems = list[tuple[tuple[str | int, ...], str]]


def _public(settings: Settings, campaign: Campaign) -> CampaignPublic:
    url = ui_link(settings, campaign.workflow_id) if campaign.workflow_id else None
    return CampaignPublic.of(campaign, ui_url=url)


def _load(session: Session, campaign_id: int, *, for_update: bool = False) -> Campaign:
    # Locked for a change: the worker's end-of-send write waits, so a state checked stays true.
    campaign = session.get(Campaign, campaign_id, with_for_update=for_update)
    if campaign is None:
        raise not_found("campaign", campaign_id)
    return campaign


def _wrong_state(campaign: Campaign, allowed: tuple[CampaignStatus, ...], done: str) -> Problem:
    states = ", ".join(s.value for s in allowed[:-1]) + (" or " if len(allowed) > 1 else "")
    return Problem(
        409,
        "Conflict",
        f"campaign {campaign.id} is {campaign.status.value}; only a {states}{allowed[-1].value} "
        f"campaign can be {done}",
    )


# What a campaign names must exist: checked on create and change, and again when it is sent.


def _template_problems(session: Session, template_id: int, loc: tuple[str | int, ...]) -> Problems:
    template = session.get(Template, template_id)
    if template is None:
        return [(loc, f"template {template_id} does not exist")]
    if template.kind != TemplateKind.MARKETING:
        return [
            (loc, f"template {template_id} is {template.kind.value}; a campaign sends marketing templates")
        ]
    return []


def _audience_problems(session: Session, audience: dict[str, Any]) -> Problems:
    lists, excluded = audience.get("lists", []), audience.get("exclude_lists", [])
    known = set(session.scalars(select(MailingList.id).where(MailingList.id.in_([*lists, *excluded]))))
    problems: Problems = []
    for key, ids in (("lists", lists), ("exclude_lists", excluded)):
        problems += [
            (("audience", key, i), f"list {n} does not exist") for i, n in enumerate(ids) if n not in known
        ]
    problems += [
        (("audience", "exclude_lists", i), f"list {n} is in lists too: its subscribers would all be left out")
        for i, n in enumerate(excluded)
        if n in lists
    ]
    return problems


def _ab_test_problems(session: Session, ab_test: dict[str, Any]) -> Problems:
    problems: Problems = []
    for i, variant in enumerate(ab_test.get("variants", [])):
        loc = ("ab_test", "variants", i)
        if variant.get("template_id") is not None:
            problems += _template_problems(session, variant["template_id"], (*loc, "template_id"))
        if variant.get("subject") is not None:
            try:
                check_template_source(
                    session, subject=variant["subject"], html_body="", text_body=None, layout_id=None
                )
            except TemplateError as exc:
                problems.append(((*loc, "subject"), exc.detail))
    return problems


def _check_references(session: Session, values: dict[str, Any]) -> None:
    """Refuse (422, one error per field) templates that are missing or not marketing, unknown lists."""
    problems: Problems = []
    if values.get("template_id") is not None:
        problems += _template_problems(session, values["template_id"], ("template_id",))
    if values.get("audience") is not None:
        problems += _audience_problems(session, values["audience"])
    if values.get("ab_test") is not None:
        problems += _ab_test_problems(session, values["ab_test"])
    if problems:
        raise RequestValidationError(
            [{"loc": ("body", *loc), "msg": message, "type": "value_error"} for loc, message in problems]
        )


# The draft.


@router.get("", response_model=Page[CampaignPublic])
def list_campaigns(
    session: SessionDep,
    settings: SettingsDep,
    page: PageDep,
    status: Annotated[CampaignStatus | None, Query(description="Only campaigns in this status")] = None,
) -> Page[CampaignPublic]:
    """Campaigns, newest first (numbers on GET /campaigns/{id})."""
    query = select(Campaign)
    if status is not None:
        query = query.where(Campaign.status == status)
    rows, next_cursor = paginate(session, query, Campaign.id, page, newest_first=True)
    return Page(data=[_public(settings, row) for row in rows], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=CampaignPublic)
def create_campaign(session: SessionDep, settings: SettingsDep, body: CampaignCreate) -> CampaignPublic:
    """Create a draft: a marketing template, an audience of existing lists, and optionally a schedule
    time, a send rate (emails per minute) and an A/B test."""
    values = stored(body)
    _check_references(session, values)
    campaign = Campaign(**values)
    session.add(campaign)
    session.commit()
    return _public(settings, campaign)


@router.get("/{campaign_id}", response_model=CampaignDetail)
def read_campaign(session: SessionDep, settings: SettingsDep, campaign_id: IdPath) -> CampaignDetail:
    """One campaign with its progress and numbers: recipients by outcome, deliveries, unique opens and
    clicks by people (machines apart), clicks per link, bounces, complaints, unsubscribes, A/B samples."""
    campaign = _load(session, campaign_id)
    stats = campaign_stats(session, campaign_id=campaign_id)
    assert stats is not None, "the campaign was just read"
    return CampaignDetail(**_public(settings, campaign).model_dump(), stats=stats)


@router.patch("/{campaign_id}", response_model=CampaignPublic)
def update_campaign(
    session: SessionDep, settings: SettingsDep, campaign_id: IdPath, body: CampaignUpdate
) -> CampaignPublic:
    """Change the fields given, while a draft; null clears from_email, scheduled_at, send_rate or ab_test."""
    campaign = _load(session, campaign_id, for_update=True)
    if campaign.status != DRAFT:
        raise _wrong_state(campaign, (DRAFT,), "changed")
    values = stored(body)
    _check_references(session, values)
    for name in UPDATABLE:
        if name in values:
            setattr(campaign, name, values[name])
    session.commit()
    return _public(settings, campaign)


@router.delete("/{campaign_id}", status_code=204)
def delete_campaign(session: SessionDep, campaign_id: IdPath) -> Response:
    """Delete a draft; a campaign that was sent or scheduled stays, for its record."""
    campaign = _load(session, campaign_id, for_update=True)
    if campaign.status != DRAFT:
        raise _wrong_state(campaign, (DRAFT,), "deleted")
    session.delete(campaign)
    session.commit()
    return Response(status_code=204)


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
        campaign = _load(session, campaign_id, for_update=True)
        if campaign.status not in allowed:
            raise _wrong_state(campaign, allowed, done)
        if values["status"] in (SENDING, SCHEDULED):
            values["workflow_id"] = campaign_workflow_id(campaign_id)
            refs = {"template_id": campaign.template_id, "audience": campaign.audience}
            _check_references(session, {**refs, "ab_test": campaign.ab_test})
        if values["status"] == SCHEDULED:
            values["scheduled_at"] = _due(campaign, values.get("scheduled_at"))
        change = _Change(campaign, values)
        for name, value in values.items():
            setattr(campaign, name, value)
        return change


def _undo(sessions: sessionmaker[Session], change: _Change) -> None:
    """Put the row back as it was, unless the workflow has written its own status since."""
    with transaction(sessions) as session:
        campaign = _load(session, change.campaign_id, for_update=True)
        if campaign.status == change.after["status"]:
            for name, value in change.before.items():
                setattr(campaign, name, value)


def _answer(sessions: sessionmaker[Session], settings: Settings, campaign_id: int) -> CampaignPublic:
    with sessions() as session:
        return _public(settings, _load(session, campaign_id))


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
