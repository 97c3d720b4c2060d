"""What the /campaigns routes share: loading a campaign, its public form, state refusals, and the
checks that what a campaign names exists (on create and change, and again when it is sent)."""

from typing import Any

from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from api.errors import Problem, not_found
from api.schemas.campaigns import CampaignPublic
from nurture.campaigns.actions import reference_problems, wrong_state_message
from nurture.db.models import Campaign, CampaignStatus
from nurture.settings import Settings
from nurture.temporal.client import ui_link

DRAFT, SCHEDULED = CampaignStatus.DRAFT, CampaignStatus.SCHEDULED
SENDING, PAUSED, CANCELLED = CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.CANCELLED
UPDATABLE = (
    "name",
    "template_id",
    "from_email",
    "audience",
    "scheduled_at",
    "in_contact_timezone",
    "timezone",
    "send_rate",
    "ab_test",
)


def campaign_public(settings: Settings, campaign: Campaign) -> CampaignPublic:
    """The campaign as the API shows it, with its Temporal UI link once it has a workflow."""
    url = ui_link(settings, campaign.workflow_id) if campaign.workflow_id else None
    return CampaignPublic.of(campaign, ui_url=url)


def load_campaign(session: Session, campaign_id: int, *, for_update: bool = False) -> Campaign:
    """The campaign, or 404."""
    # Locked for a change: the worker's end-of-send write waits, so a state checked stays true.
    campaign = session.get(Campaign, campaign_id, with_for_update=for_update)
    if campaign is None:
        raise not_found("campaign", campaign_id)
    return campaign


def wrong_state(campaign: Campaign, allowed: tuple[CampaignStatus, ...], done: str) -> Problem:
    """409 naming the campaign's state and the states it could have been `done` from."""
    return Problem(409, "Conflict", wrong_state_message(campaign, allowed, done))


def check_references(session: Session, values: dict[str, Any]) -> None:
    """Refuse (422, one error per field) templates that are missing or not marketing, unknown lists."""
    problems = reference_problems(session, values)
    if problems:
        raise RequestValidationError(
            [{"loc": ("body", *loc), "msg": message, "type": "value_error"} for loc, message in problems]
        )


def check_timing(*, in_contact_timezone: bool | None, ab_test: dict[str, Any] | None) -> None:
    """Refuse (422) an A/B test sent in each contact's time zone: its sample would be one zone's."""
    if in_contact_timezone and ab_test:
        message = "cannot be combined with an A/B test: its sample and winner would go out zone by zone"
        raise RequestValidationError(
            [{"loc": ("body", "in_contact_timezone"), "msg": message, "type": "value_error"}]
        )
