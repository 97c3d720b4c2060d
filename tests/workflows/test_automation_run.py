"""A 14-day nurture on the time-skipping server: contacts who open, click, buy or ignore it each
take the right path, with the right emails sent once (through the local Postmark server)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from nurture.automations.enroll import enroll
from nurture.automations.runs import ContactEventSignal, RunOutcome, RunView
from nurture.crud.engagement import record_engagement
from nurture.crud.lists import create_list, set_subscription
from nurture.crud.messages import get_message_by_key
from nurture.crud.templates import create_template
from nurture.db.models import (
    Automation,
    AutomationRun,
    AutomationStatus,
    AutomationVersion,
    Contact,
    ContactEvent,
    SubscriptionStatus,
)
from nurture.db.session import session_factory, transaction
from nurture.email.engagement import deliver_engagement, engagement_of
from nurture.postmark_server import RunningServer
from nurture.schemas.email import METADATA_KEY, EngagementType, TemplateKind
from nurture.settings import Settings
from tests.isolated import isolated
from tests.workflows.histories import record
from workers.registration import WorkerDeps, running_workers

PRICING = "https://example.com/pricing"


def nurture(templates: dict[str, int], list_id: int) -> dict[str, Any]:
    """Welcome, wait 2 days, branch on the open, a reminder, wait 3 days for a click on pricing,
    a last chance; a purchase at any point jumps to the goal."""
    return {
        "triggers": [{"type": "list_subscribed", "list_id": list_id}],
        "exits": [{"type": "unsubscribed"}],
        "steps": [
            {"id": "welcome", "type": "send_email", "template_id": templates["welcome"], "list_id": list_id},
            {"id": "wait-2d", "type": "wait", "duration": "2d"},
            {
                "id": "opened-welcome",
                "type": "if",
                "condition": {"type": "email", "step": "welcome", "did": "opened"},
                "then": "wait-for-pricing",
                "else": "reminder",
            },
            {"id": "reminder", "type": "send_email", "template_id": templates["reminder"]},
            {
                "id": "wait-for-pricing",
                "type": "wait_for",
                "condition": {"type": "email", "step": "welcome", "did": "clicked", "link": PRICING},
                "timeout": "3d",
                "on_timeout": "last-chance",
            },
            {"id": "hot", "type": "tag", "add": ["hot lead"], "next": "bought"},
            {"id": "last-chance", "type": "send_email", "template_id": templates["last"]},
            {"id": "wait-9d", "type": "wait", "duration": "9d"},
            {
                "id": "bought",
                "type": "goal",
                "condition": {"type": "event", "name": "purchase"},
                "if_unmet": "end",
            },
            {
                "id": "thanks",
                "type": "send_email",
                "template_id": templates["thanks"],
                "kind": "transactional",
            },
        ],
    }


@dataclass
class Nurture:
    env: WorkflowEnvironment
    settings: Settings
    postmark: RunningServer
    automation_id: int
    list_id: int

    @property
    def client(self) -> Client:
        return self.env.client

    def sessions(self):  # type: ignore[no-untyped-def]
        return session_factory(self.settings.resolved_database_url)

    def contact(self, email: str) -> int:
        with transaction(self.sessions()) as session:
            contact = Contact(email=email, first_name=email.split("@")[0].title())
            session.add(contact)
            session.flush()
            set_subscription(
                session, list_id=self.list_id, contact_id=contact.id, status=SubscriptionStatus.SUBSCRIBED
            )
            return contact.id

    async def enroll(self, contact_id: int) -> WorkflowHandle[Any, Any]:
        enrollment = await enroll(
            self.client,
            self.sessions(),
            self.settings,
            automation_id=self.automation_id,
            contact_id=contact_id,
            index=False,  # the time-skipping server has no custom search attributes
        )
        assert enrollment.started, enrollment.reason
        # The handle the start returned: waiting on its result lets the test server skip time.
        assert enrollment.handle is not None
        return enrollment.handle

    def subjects(self, contact_email: str) -> list[str]:
        return [m["Subject"] for m in reversed(self.postmark.messages(recipient=contact_email))]

    async def engage(
        self, handle: WorkflowHandle[Any, Any], step: str, what: EngagementType, url: str | None = None
    ) -> None:
        """The contact opens or clicks the email of a step, as the tracking endpoints record it."""
        view: RunView = await handle.query("state", result_type=RunView)
        now = await self.env.get_current_time()
        with transaction(self.sessions()) as session:
            message = get_message_by_key(session, key=view.sends[step].key)
            assert message is not None
            event = record_engagement(
                session,
                message=message,
                type=what,
                source="test",
                url=url,
                occurred_at=now,
                data={"user_agent": "Mozilla/5.0 (Macintosh) Safari/605"},
            )
            assert event is not None
            engagement = engagement_of(message, event)
        assert await deliver_engagement(self.client, workflow_id=handle.id, engagement=engagement)

    async def event(self, handle: WorkflowHandle[Any, Any], contact_id: int, name: str) -> None:
        now = await self.env.get_current_time()
        with transaction(self.sessions()) as session:
            session.add(ContactEvent(contact_id=contact_id, name=name, properties={}, occurred_at=now))
        await handle.signal("contact_event", ContactEventSignal(name=name, occurred_at=now))


@pytest.fixture
async def world(
    settings: Settings, time_skipping: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[Nurture]:
    run = uuid.uuid4().hex[:8]
    settings = isolated(settings, postmark_server)
    with transaction(session_factory(settings.resolved_database_url)) as session:
        newsletter = create_list(session, name="Trial users")
        templates = {}
        for name, subject in [
            ("welcome", "Welcome, {{ contact.first_name }}"),
            ("reminder", "Did you see our welcome?"),
            ("last", "Last chance for the trial offer"),
            ("thanks", "Thank you for your order"),
        ]:
            kind = TemplateKind.TRANSACTIONAL if name == "thanks" else TemplateKind.MARKETING
            body = f'<p>Hi {{{{ contact.first_name }}}}</p><p><a href="{PRICING}">Pricing</a></p>'
            templates[name] = create_template(
                session, name=name, kind=kind, subject=subject, html_body=body
            ).id
        session.flush()
        automation = Automation(name=f"Trial nurture {run}", status=AutomationStatus.ACTIVE)
        session.add(automation)
        session.flush()
        session.add(
            AutomationVersion(
                automation_id=automation.id, number=1, definition=nurture(templates, newsletter.id)
            )
        )
        ids = automation.id, newsletter.id
    async with running_workers(time_skipping.client, WorkerDeps(settings=settings)):
        yield Nurture(time_skipping, settings, postmark_server, *ids)


async def _until_waiting_at(handle: WorkflowHandle[Any, Any], step: str) -> None:
    for _ in range(200):
        view: RunView = await handle.query("state", result_type=RunView)
        if view.current_step == step:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the run never reached {step}; it is at {view.current_step}")


async def test_a_contact_who_ignores_everything_gets_welcome_reminder_and_last_chance(world: Nurture) -> None:
    contact = world.contact("ignores@example.com")
    handle = await world.enroll(contact)
    outcome: RunOutcome = await handle.result()
    await record(world.client, workflow_id=handle.id, name="automation_ignored")
    assert outcome.status == "completed" and outcome.goals_reached == []
    assert world.subjects("ignores@example.com") == [
        "Welcome, Ignores",
        "Did you see our welcome?",
        "Last chance for the trial offer",
    ]
    with session_factory(world.settings.resolved_database_url)() as session:
        row = session.scalar(select(AutomationRun).where(AutomationRun.workflow_id == handle.id))
        assert row is not None and row.status.value == "completed" and row.current_step == "bought"


async def test_a_contact_who_opens_and_clicks_pricing_skips_the_reminders(world: Nurture) -> None:
    contact = world.contact("opens@example.com")
    handle = await world.enroll(contact)
    await _until_waiting_at(handle, "wait-2d")
    await world.engage(handle, "welcome", EngagementType.OPENED)
    await world.env.sleep(timedelta(days=2, hours=1))
    await _until_waiting_at(handle, "wait-for-pricing")
    await world.engage(handle, "welcome", EngagementType.CLICKED, url=PRICING)
    outcome: RunOutcome = await handle.result()
    await record(world.client, workflow_id=handle.id, name="automation_opened_and_clicked")
    assert world.subjects("opens@example.com") == ["Welcome, Opens"]
    view: RunView = await handle.query("state", result_type=RunView)
    assert [v.step for v in view.passed] == [
        "welcome",
        "wait-2d",
        "opened-welcome",
        "wait-for-pricing",
        "hot",
        "bought",
    ]
    assert outcome.status == "completed"
    with session_factory(world.settings.resolved_database_url)() as session:
        tagged = session.get(Contact, contact)
        assert tagged is not None and [t.name for t in tagged.tags] == ["hot lead"]


async def test_a_purchase_while_waiting_jumps_to_the_goal_from_wherever_the_contact_is(
    world: Nurture,
) -> None:
    contact = world.contact("buys@example.com")
    handle = await world.enroll(contact)
    await _until_waiting_at(handle, "wait-2d")
    await world.env.sleep(timedelta(days=1))
    await world.event(handle, contact, "purchase")
    outcome: RunOutcome = await handle.result()
    await record(world.client, workflow_id=handle.id, name="automation_goal_jump")
    assert outcome.goals_reached == ["bought"] and outcome.reason == "goal: bought"
    assert world.subjects("buys@example.com") == ["Welcome, Buys", "Thank you for your order"]


async def test_unsubscribing_ends_the_run_at_its_next_send(world: Nurture) -> None:
    contact = world.contact("leaves@example.com")
    handle = await world.enroll(contact)
    await _until_waiting_at(handle, "wait-2d")
    with transaction(session_factory(world.settings.resolved_database_url)) as session:
        row = session.get(Contact, contact)
        assert row is not None
        row.status = "unsubscribed"  # type: ignore[assignment]
    await handle.signal("contact_changed")
    outcome: RunOutcome = await handle.result()
    await record(world.client, workflow_id=handle.id, name="automation_exited")
    assert outcome.status == "exited" and outcome.reason == "exit: contact unsubscribed"
    assert world.subjects("leaves@example.com") == ["Welcome, Leaves"]


async def test_each_email_goes_once_and_a_second_enrollment_is_refused(world: Nurture) -> None:
    contact = world.contact("once@example.com")
    handle = await world.enroll(contact)
    again = await enroll(
        world.client,
        world.sessions(),
        world.settings,
        automation_id=world.automation_id,
        contact_id=contact,
        index=False,
    )
    assert not again.started and "entered this automation before" in (again.reason or "")
    await handle.result()
    keys = [m["Metadata"][METADATA_KEY] for m in world.postmark.messages(recipient="once@example.com")]
    assert len(keys) == len(set(keys)) == 3
