"""What the /campaigns routes share: loading a campaign, its public form, state refusals, and the
checks that what a campaign names exists (on create and change, and again when it is sent)."""

from typing import Any

from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import Problem, not_found
from api.schemas.campaigns import CampaignPublic
from nurture.db.models import Campaign, CampaignStatus, MailingList, Template, TemplateKind
from nurture.settings import Settings
from nurture.templates.errors import TemplateError
from nurture.templates.validate import check_template_source
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
    "send_rate",
    "ab_test",
)
Problems = list[tuple[tuple[str | int, ...], str]]


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


def check_references(session: Session, values: dict[str, Any]) -> None:
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
