"""Sending a campaign and steering it, for the API and the CLI: the row changes first, then Temporal.

Sending writes the new status before the campaign's workflow starts, and puts the old one back if
the start fails, so the row never claims a send that is not running. Pause, resume and cancel
write the status, then signal the workflow (`campaign:{id}`), which keeps the recipients' outcomes
and writes how the campaign ended.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from nurture.campaigns.control import campaign_workflow_id, signal_campaign, start_campaign
from nurture.db.models import Campaign, CampaignStatus, MailingList, Template, TemplateKind
from nurture.db.session import transaction
from nurture.settings import Settings
from nurture.templates.errors import TemplateError
from nurture.templates.validate import check_template_source

DRAFT, SCHEDULED = CampaignStatus.DRAFT, CampaignStatus.SCHEDULED
SENDING, PAUSED, CANCELLED = CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.CANCELLED
# A field's place in the input (`("audience", "lists", 1)`) and what is wrong with it.
Problems = list[tuple[tuple[str | int, ...], str]]


@dataclass(frozen=True)
class Action:
    """What an action needs the campaign to be, what it writes, and its past tense for refusals."""

    name: str
    allowed: tuple[CampaignStatus, ...]
    done: str
    values: Mapping[str, Any]


# Sent now goes to everyone at once, never in each contact's time zone.
SEND = Action(
    "send", (DRAFT,), "sent", {"status": SENDING, "scheduled_at": None, "in_contact_timezone": False}
)
SCHEDULE = Action("schedule", (DRAFT,), "scheduled", {"status": SCHEDULED})
PAUSE = Action("pause", (SENDING,), "paused", {"status": PAUSED})
RESUME = Action("resume", (PAUSED,), "resumed", {"status": SENDING})
CANCEL = Action("cancel", (SCHEDULED, SENDING, PAUSED), "cancelled", {"status": CANCELLED})
# Given the locked campaign and the values about to be written (which it may change), refuses
# them by raising, or says when the workflow starts sending (None: now).
Prepare = Callable[[Session, Campaign, dict[str, Any]], datetime | None]


class CampaignNotFound(LookupError):
    """No campaign has this id."""

    def __init__(self, campaign_id: int) -> None:
        super().__init__(f"campaign {campaign_id} does not exist")


class CampaignWrongState(Exception):
    """The campaign's status does not allow the action; the message names both."""


class CampaignRefused(ValueError):
    """What the campaign names is missing or wrong, or its schedule is; `problems` names each field."""

    def __init__(self, problems: Problems) -> None:
        super().__init__("; ".join(f"{field_name(loc)}: {message}" for loc, message in problems))
        self.problems = problems


def field_name(loc: tuple[str | int, ...]) -> str:
    """`("audience", "lists", 1)` as `audience.lists[1]`."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def wrong_state_message(campaign: Campaign, allowed: tuple[CampaignStatus, ...], done: str) -> str:
    """`campaign 5 is sent; only a draft campaign can be sent`."""
    states = ", ".join(s.value for s in allowed[:-1]) + (" or " if len(allowed) > 1 else "")
    return (
        f"campaign {campaign.id} is {campaign.status.value}; only a {states}{allowed[-1].value} "
        f"campaign can be {done}"
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


def reference_problems(session: Session, values: dict[str, Any]) -> Problems:
    """Templates that are missing or not marketing, and unknown or contradictory lists, one per field."""
    problems: Problems = []
    if values.get("template_id") is not None:
        problems += _template_problems(session, values["template_id"], ("template_id",))
    if values.get("audience") is not None:
        problems += _audience_problems(session, values["audience"])
    if values.get("ab_test") is not None:
        problems += _ab_test_problems(session, values["ab_test"])
    return problems


# Sending and steering: the row changes first, then Temporal is told; a refusal puts the row back.


@dataclass(frozen=True)
class StatusChange:
    """A status change written to the row, and what to put back if Temporal refuses it."""

    action: str
    campaign_id: int
    name: str
    before: dict[str, Any]
    after: dict[str, Any]
    # When a started workflow begins sending; None for now.
    start_at: datetime | None = None


def change_status(
    sessions: sessionmaker[Session],
    campaign_id: int,
    action: Action,
    *,
    values: Mapping[str, Any] | None = None,
    prepare: Prepare | None = None,
) -> StatusChange:
    """Check the campaign may take `action` and write its values, with `values` on top.

    Going to sending or scheduled checks again what the campaign names and sets its workflow id.
    `prepare` checks what is particular to a call (a schedule's time) before anything is written.

    Raises:
        CampaignNotFound, CampaignWrongState, CampaignRefused, or what `prepare` raised: nothing
        was written.
    """
    after = {**action.values, **(values or {})}
    with transaction(sessions) as session:
        # Locked: the worker's end-of-send write waits, so the state checked stays true.
        campaign = session.get(Campaign, campaign_id, with_for_update=True)
        if campaign is None:
            raise CampaignNotFound(campaign_id)
        if campaign.status not in action.allowed:
            raise CampaignWrongState(wrong_state_message(campaign, action.allowed, action.done))
        if after["status"] in (SENDING, SCHEDULED):
            after["workflow_id"] = campaign_workflow_id(campaign_id)
            refs = {"template_id": campaign.template_id, "audience": campaign.audience}
            problems = reference_problems(session, {**refs, "ab_test": campaign.ab_test})
            if problems:
                raise CampaignRefused(problems)
        start_at = prepare(session, campaign, after) if prepare else after.get("scheduled_at")
        before = {name: getattr(campaign, name) for name in after}
        for name, value in after.items():
            setattr(campaign, name, value)
        return StatusChange(action.name, campaign_id, campaign.name, before, after, start_at)


def undo_change(sessions: sessionmaker[Session], change: StatusChange) -> None:
    """Put the row back as it was, unless the workflow has written its own status since."""
    with transaction(sessions) as session:
        campaign = session.get(Campaign, change.campaign_id, with_for_update=True)
        if campaign is not None and campaign.status == change.after["status"]:
            for name, value in change.before.items():
                setattr(campaign, name, value)


async def tell_temporal(
    temporal: Callable[[], Awaitable[Client]],
    settings: Settings,
    sessions: sessionmaker[Session],
    change: StatusChange,
) -> Client:
    """Start the campaign's workflow (send, schedule) or signal it (pause, resume, cancel).

    Args:
        temporal: connects to Temporal (or hands out a connected client).
        settings: the task queues the workflow runs on.
        sessions: where the row is put back if Temporal cannot be told.
        change: what `change_status` wrote.

    Returns:
        The client that told it.

    Raises:
        Whatever connecting, starting or signalling raised (WorkflowAlreadyStartedError when the
        campaign's workflow runs already, RPCError NOT_FOUND when it no longer runs), once the row
        is back as it was.
    """
    try:
        client = await temporal()
        if change.action in ("send", "schedule"):
            await start_campaign(
                client,
                settings,
                campaign_id=change.campaign_id,
                name=change.name,
                scheduled_at=change.start_at,
            )
        else:
            await signal_campaign(client, campaign_id=change.campaign_id, signal=change.action)
    except BaseException:
        # Shielded: a cancelled caller (Ctrl-C, a dropped request) must not leave the row claiming it.
        await asyncio.shield(asyncio.to_thread(undo_change, sessions, change))
        raise
    return client
