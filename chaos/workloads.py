"""What the faults strike: automation runs that send two emails, a campaign to a list, one-off sends;
each built as the API builds it, and each with what should arrive."""

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle

from api.send_workflows import start_send
from bench.campaign_setup import draft_campaign, subscribed_list
from chaos.results import Check, check
from nurture.automations.bulk import Audience
from nurture.automations.check import check_definition, stored
from nurture.automations.control import start_enrollment
from nurture.campaigns.control import start_campaign
from nurture.campaigns.sending import CampaignProgress
from nurture.crud.templates import create_template
from nurture.db.models import (
    Automation,
    AutomationRun,
    AutomationStatus,
    AutomationVersion,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Contact,
    ListSubscription,
    RecipientStatus,
    RunStatus,
)
from nurture.db.session import transaction
from nurture.schemas.email import SendRequest, TemplateKind
from nurture.settings import Settings

STEP_SUBJECTS = ("Step one", "Step two")
CAMPAIGN_SUBJECT = "Chaos news"
MESSAGE_SUBJECT = "Your receipt"
# Workflow starts in flight at once.
STARTS = 10


@dataclass(frozen=True)
class Subscribers:
    """A list and its subscribers' addresses, by contact id."""

    list_id: int
    emails: dict[int, str]


def audience(sessions: sessionmaker[Session], count: int) -> Subscribers:
    """A new list of `count` new subscribed contacts (written in bulk, as the campaign benchmark does)."""
    list_id = subscribed_list(sessions, count=count)
    with sessions() as session:
        rows = session.execute(
            select(Contact.id, Contact.email)
            .join(ListSubscription, ListSubscription.contact_id == Contact.id)
            .where(ListSubscription.list_id == list_id)
        ).all()
    return Subscribers(list_id, {contact_id: email.lower() for contact_id, email in rows})


def template(sessions: sessionmaker[Session], subject: str, *, kind: TemplateKind) -> int:
    """A short template with this (fixed) subject; its id."""
    with transaction(sessions) as session:
        return create_template(
            session,
            name=f"{subject} {uuid.uuid4().hex[:6]}",
            kind=kind,
            subject=subject,
            html_body="<p>Hello {{ contact.email }}: " + subject + ".</p>",
        ).id


# --- automation runs: send, wait a second, send ------------------------------------------------


def two_email_automation(sessions: sessionmaker[Session]) -> int:
    """An active automation that sends "Step one", waits a second and sends "Step two"; its id."""
    first, second = (template(sessions, s, kind=TemplateKind.TRANSACTIONAL) for s in STEP_SUBJECTS)
    definition: dict[str, Any] = {
        "steps": [
            {"id": "first", "type": "send_email", "template_id": first},
            {"id": "pause", "type": "wait", "duration": "1s"},
            {"id": "second", "type": "send_email", "template_id": second},
            {"id": "done", "type": "end"},
        ]
    }
    with transaction(sessions) as session:
        automation = Automation(name=f"Chaos {uuid.uuid4().hex[:8]}", status=AutomationStatus.DRAFT)
        session.add(automation)
        session.flush()
        checked = check_definition(session, definition, automation_id=automation.id)
        session.add(AutomationVersion(automation_id=automation.id, number=1, definition=stored(checked)))
        automation.status = AutomationStatus.ACTIVE
        return automation.id


async def enroll_list(client: Client, settings: Settings, *, automation_id: int, list_id: int) -> str:
    """Enroll a list's subscribers as `POST /automations/{id}/enrollments` does; the enrollment's id."""
    return await start_enrollment(
        client, settings, automation_id=automation_id, audience=Audience(subscribed_to=list_id)
    )


def runs_ended(sessions: sessionmaker[Session], automation_id: int, count: int) -> bool:
    """Whether `count` runs of the automation have ended (their rows say so)."""
    with sessions() as session:
        ended = session.scalar(
            select(func.count()).where(
                AutomationRun.automation_id == automation_id, AutomationRun.status != RunStatus.RUNNING
            )
        )
    return (ended or 0) >= count


def run_rows(sessions: sessionmaker[Session], automation_id: int) -> dict[str, RunStatus]:
    """Each run of the automation: workflow id -> status in its row."""
    with sessions() as session:
        rows = session.execute(
            select(AutomationRun.workflow_id, AutomationRun.status).where(
                AutomationRun.automation_id == automation_id
            )
        ).all()
    return {workflow_id: RunStatus(status) for workflow_id, status in rows}


def runs_completed(rows: dict[str, RunStatus], count: int) -> Check:
    """Every enrolled contact has one run, and its row says completed."""
    statuses = sorted({s.value for s in rows.values()})
    done = sum(1 for s in rows.values() if s == RunStatus.COMPLETED)
    return check(
        "every run row completed",
        len(rows) == count and done == count,
        f"{len(rows)} run rows for {count} contacts; {done} completed (statuses: {', '.join(statuses)})",
    )


def both_steps(emails: Iterable[str]) -> set[tuple[str, str]]:
    """What the two-email automation should deliver: each step's email to each contact."""
    return {(email, subject) for email in emails for subject in STEP_SUBJECTS}


# --- a campaign ---------------------------------------------------------------------------------


def campaign(sessions: sessionmaker[Session], list_id: int) -> int:
    """A draft campaign of a short marketing template to the list; its id."""
    template_id = template(sessions, CAMPAIGN_SUBJECT, kind=TemplateKind.MARKETING)
    return draft_campaign(sessions, template_id=template_id, list_id=list_id)


async def start(
    client: Client, settings: Settings, campaign_id: int
) -> WorkflowHandle[Any, CampaignProgress]:
    """Start sending the campaign, as `POST /campaigns/{id}/send` does."""
    return await start_campaign(client, settings, campaign_id=campaign_id, name=CAMPAIGN_SUBJECT)


def campaign_sent(sessions: sessionmaker[Session], campaign_id: int, count: int) -> Check:
    """The campaign's row says sent, and each of its `count` recipients' rows says sent."""
    with sessions() as session:
        row = session.get(Campaign, campaign_id)
        rows = session.execute(
            select(CampaignRecipient.status, func.count())
            .where(CampaignRecipient.campaign_id == campaign_id)
            .group_by(CampaignRecipient.status)
        ).all()
    by_status = {RecipientStatus(status).value: n for status, n in rows}
    status = row.status.value if row is not None else "missing"
    shown = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
    return check(
        "campaign recorded as sent to all",
        status == CampaignStatus.SENT.value and by_status == {"sent": count},
        f"campaign {status}; {count} recipients: {shown}",
    )


# --- one-off sends (POST /messages) -----------------------------------------------------------------


async def send_messages(
    client: Client, settings: Settings, *, contacts: dict[int, str], template_id: int, prefix: str
) -> list[str]:
    """Start one transactional send per contact as `POST /messages` does; their workflow ids."""
    gate = asyncio.Semaphore(STARTS)

    async def one(contact_id: int) -> str:
        send = SendRequest(key=f"{prefix}-{contact_id}", template_id=template_id, contact_id=contact_id)
        async with gate:
            handle, _ = await start_send(client, settings, send=send, summary="chaos send", wait=False)
        return handle.id

    return list(await asyncio.gather(*(one(c) for c in contacts)))
