"""/campaigns: drafts (create, read with progress and stats, change, delete) and the list.

Sending and steering a campaign are in campaign_actions.py.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import select

from api.deps import SessionDep, SettingsDep
from api.pagination import Page, PageParams, page_params, paginate
from api.params import IdPath
from api.routes.campaign_deps import (
    DRAFT,
    UPDATABLE,
    campaign_public,
    check_references,
    check_timing,
    load_campaign,
    wrong_state,
)
from api.schemas.campaigns import (
    CampaignCreate,
    CampaignDetail,
    CampaignPublic,
    CampaignUpdate,
    stored,
)
from nurture.campaigns.stats import campaign_stats
from nurture.db.models import Campaign, CampaignStatus

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
PageDep = Annotated[PageParams, Depends(page_params)]


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
    return Page(data=[campaign_public(settings, row) for row in rows], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=CampaignPublic)
def create_campaign(session: SessionDep, settings: SettingsDep, body: CampaignCreate) -> CampaignPublic:
    """Create a draft: a marketing template, an audience of existing lists (narrowed by tags and field
    conditions), and optionally a schedule time (in each contact's time zone), a send rate (emails per
    minute) and an A/B test."""
    values = stored(body)
    check_references(session, values)
    check_timing(in_contact_timezone=values.get("in_contact_timezone"), ab_test=values.get("ab_test"))
    campaign = Campaign(**values)
    session.add(campaign)
    session.commit()
    return campaign_public(settings, campaign)


@router.get("/{campaign_id}", response_model=CampaignDetail)
def read_campaign(session: SessionDep, settings: SettingsDep, campaign_id: IdPath) -> CampaignDetail:
    """One campaign with its progress and numbers: recipients by outcome, deliveries, unique opens and
    clicks by people (machines apart), clicks per link, bounces, complaints, unsubscribes, A/B samples."""
    campaign = load_campaign(session, campaign_id)
    stats = campaign_stats(session, campaign_id=campaign_id)
    assert stats is not None, "the campaign was just read"
    return CampaignDetail(**campaign_public(settings, campaign).model_dump(), stats=stats)


@router.patch("/{campaign_id}", response_model=CampaignPublic)
def update_campaign(
    session: SessionDep, settings: SettingsDep, campaign_id: IdPath, body: CampaignUpdate
) -> CampaignPublic:
    """Change the fields given, while a draft; null clears from_email, scheduled_at, send_rate or ab_test."""
    campaign = load_campaign(session, campaign_id, for_update=True)
    if campaign.status != DRAFT:
        raise wrong_state(campaign, (DRAFT,), "changed")
    values = stored(body)
    check_references(session, values)
    for name in UPDATABLE:
        if name in values:
            setattr(campaign, name, values[name])
    check_timing(in_contact_timezone=campaign.in_contact_timezone, ab_test=campaign.ab_test)
    session.commit()
    return campaign_public(settings, campaign)


@router.delete("/{campaign_id}", status_code=204)
def delete_campaign(session: SessionDep, campaign_id: IdPath) -> Response:
    """Delete a draft; a campaign that was sent or scheduled stays, for its record."""
    campaign = load_campaign(session, campaign_id, for_update=True)
    if campaign.status != DRAFT:
        raise wrong_state(campaign, (DRAFT,), "deleted")
    session.delete(campaign)
    session.commit()
    return Response(status_code=204)
