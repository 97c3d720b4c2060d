"""One test's automation world: real workers, database and local Postmark server on a Temporal server,
with helpers to build automations as the API saves them and to read what runs did."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from nurture.automations.check import check_definition, stored
from nurture.automations.enroll import enroll
from nurture.automations.runs import RunView
from nurture.crud.lists import create_list, set_subscription
from nurture.crud.tags import add_tag
from nurture.crud.templates import create_template
from nurture.crud.users import create_user
from nurture.db.models import (
    Automation,
    AutomationRun,
    AutomationStatus,
    AutomationVersion,
    Contact,
    ContactStatus,
    ListSubscription,
    StepEntry,
    SubscriptionStatus,
)
from nurture.db.session import session_factory, transaction
from nurture.postmark_server import RunningServer
from nurture.schemas.email import TemplateKind
from nurture.settings import Settings
from tests.isolated import isolated
from workers.registration import WorkerDeps, running_workers


@dataclass(frozen=True)
class ContactNow:
    """A contact as the database has it now."""

    first_name: str | None
    custom_fields: dict[str, Any]
    timezone: str | None
    tags: list[str]
    lists: dict[int, str] = field(default_factory=dict)
    consent: dict[int, str | None] = field(default_factory=dict)


@dataclass
class World:
    """Builders and readers for one test; `indexed` when the server knows Nurture's search attributes."""

    env: WorkflowEnvironment
    settings: Settings
    postmark: RunningServer
    indexed: bool
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def client(self) -> Client:
        return self.env.client

    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.settings.resolved_database_url)

    def template(self, subject: str, *, kind: TemplateKind = TemplateKind.TRANSACTIONAL) -> int:
        with transaction(self.sessions()) as session:
            body = f"<p>{subject}</p><p>Hi {{{{ contact.first_name }}}}</p>"
            name = f"{subject} {uuid.uuid4().hex[:6]}"
            return create_template(session, name=name, kind=kind, subject=subject, html_body=body).id

    def mailing_list(self, name: str) -> int:
        with transaction(self.sessions()) as session:
            return create_list(session, name=f"{name} {self.run}").id

    def user(self, email: str, name: str) -> int:
        with transaction(self.sessions()) as session:
            return create_user(session, email=email, name=name).id

    def automation(self, name: str, definition: dict[str, Any]) -> int:
        """An active automation with this definition, checked and stored as the API saves it."""
        with transaction(self.sessions()) as session:
            automation = Automation(name=f"{name} {self.run}", status=AutomationStatus.DRAFT)
            session.add(automation)
            session.flush()
            checked = check_definition(session, definition, automation_id=automation.id)
            session.add(AutomationVersion(automation_id=automation.id, number=1, definition=stored(checked)))
            automation.status = AutomationStatus.ACTIVE
            return automation.id

    def contact(
        self,
        email: str,
        *,
        timezone: str | None = None,
        owner_id: int | None = None,
        custom_fields: dict[str, Any] | None = None,
        lists: tuple[int, ...] = (),
        tags: tuple[str, ...] = (),
        status: ContactStatus = ContactStatus.ACTIVE,
    ) -> int:
        """A contact named after its email ("ada@..." is Ada), subscribed to `lists`, with `tags`."""
        with transaction(self.sessions()) as session:
            contact = Contact(
                email=email,
                first_name=email.split("@")[0].title(),
                timezone=timezone,
                owner_id=owner_id,
                custom_fields=custom_fields or {},
                status=status,
            )
            session.add(contact)
            session.flush()
            for list_id in lists:
                set_subscription(
                    session, list_id=list_id, contact_id=contact.id, status=SubscriptionStatus.SUBSCRIBED
                )
            for tag in tags:
                add_tag(session, contact=contact, name=tag)
            return contact.id

    def tag(self, contact_id: int, name: str) -> None:
        """Tag the contact directly in the database (no trigger fires, no run is told)."""
        with transaction(self.sessions()) as session:
            contact = session.get(Contact, contact_id)
            assert contact is not None
            add_tag(session, contact=contact, name=name)

    def now(self, contact_id: int) -> ContactNow:
        with self.sessions()() as session:
            contact = session.get(Contact, contact_id)
            assert contact is not None
            subscriptions = list(
                session.scalars(select(ListSubscription).where(ListSubscription.contact_id == contact_id))
            )
            return ContactNow(
                first_name=contact.first_name,
                custom_fields=dict(contact.custom_fields or {}),
                timezone=contact.timezone,
                tags=[tag.name for tag in contact.tags],
                lists={s.list_id: s.status.value for s in subscriptions},
                consent={s.list_id: s.consent_source for s in subscriptions},
            )

    async def enroll(self, automation_id: int, contact_id: int) -> WorkflowHandle[Any, Any]:
        """Start the contact's run; awaiting the handle's result lets the time-skipping server skip."""
        enrollment = await enroll(
            self.client,
            self.sessions(),
            self.settings,
            automation_id=automation_id,
            contact_id=contact_id,
            index=self.indexed,
        )
        assert enrollment.started, enrollment.reason
        assert enrollment.handle is not None
        return enrollment.handle

    def runs(self, automation_id: int) -> list[AutomationRun]:
        with self.sessions()() as session:
            query = select(AutomationRun).where(AutomationRun.automation_id == automation_id)
            return list(session.scalars(query.order_by(AutomationRun.id)))

    def run_row(self, workflow_id: str) -> AutomationRun:
        with self.sessions()() as session:
            row = session.scalar(select(AutomationRun).where(AutomationRun.workflow_id == workflow_id))
            assert row is not None, f"no run row for {workflow_id}"
            return row

    def entries(self, workflow_id: str) -> list[str]:
        """The steps the run's entry rows name, in the order they were entered."""
        row = self.run_row(workflow_id)
        with self.sessions()() as session:
            query = select(StepEntry.step).where(StepEntry.run_id == row.id)
            return list(session.scalars(query.order_by(StepEntry.entered_at, StepEntry.id)))

    def subjects(self, recipient: str) -> list[str]:
        """Subjects of the emails that reached the local Postmark server for `recipient`, oldest first."""
        return [m["Subject"] for m in reversed(self.postmark.messages(recipient=recipient))]

    async def until_at(self, handle: WorkflowHandle[Any, Any], step: str, *, visits: int = 1) -> RunView:
        """Poll the `state` query until the run is at `step` (entered `visits` times)."""
        view: RunView | None = None
        for _ in range(400):
            view = await handle.query("state", result_type=RunView)
            entered = sum(1 for visit in view.passed if visit.step == step)
            if view.current_step == step and entered >= visits:
                return view
            await asyncio.sleep(0.05)
        raise AssertionError(f"the run never reached {step}; it is at {view and view.current_step}")


@asynccontextmanager
async def world_on(
    env: WorkflowEnvironment, settings: Settings, postmark: RunningServer, *, indexed: bool
) -> AsyncIterator[World]:
    """A world whose workers run on `env` on task queues of their own until the block ends."""
    world = World(env, isolated(settings, postmark), postmark, indexed)
    async with running_workers(env.client, WorkerDeps(settings=world.settings)):
        yield world
