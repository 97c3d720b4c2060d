"""One test's campaign world on the time-skipping server: real workers, the database, the local
Postmark server; helpers to add contacts and campaigns, start sends and read what arrived."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from nurture.campaigns.control import start_campaign
from nurture.campaigns.sending import CampaignProgress
from nurture.crud.lists import create_list
from nurture.crud.templates import create_template
from nurture.db.models import (
    Campaign,
    CampaignRecipient,
    Contact,
    ListSubscription,
    SubscriptionStatus,
    TemplateKind,
)
from nurture.db.session import session_factory, transaction
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from tests.isolated import isolated
from workers.registration import WorkerDeps, running_workers


@dataclass
class Send:
    """A test's campaign world: its Temporal environment, settings, Postmark server, lists, template."""

    env: WorkflowEnvironment
    settings: Settings
    postmark: RunningServer
    news: int
    offers: int
    template: int

    def sessions(self):  # type: ignore[no-untyped-def]
        return session_factory(self.settings.resolved_database_url)

    def contacts(self, count: int, *lists: int, prefix: str = "c", timezone: str | None = None) -> list[str]:
        emails = [f"{prefix}{i}@example.com" for i in range(count)]
        with transaction(self.sessions()) as session:
            rows = [Contact(email=email, timezone=timezone) for email in emails]
            session.add_all(rows)
            session.flush()
            session.add_all(
                ListSubscription(list_id=list_id, contact_id=row.id, status=SubscriptionStatus.SUBSCRIBED)
                for row in rows
                for list_id in lists
            )
        return emails

    def campaign(self, **fields: Any) -> int:
        with transaction(self.sessions()) as session:
            campaign = Campaign(
                name="November news",
                template_id=self.template,
                audience={"lists": [self.news, self.offers]},
                **fields,
            )
            session.add(campaign)
            session.flush()
            return campaign.id

    async def start(self, campaign_id: int, **kwargs: Any) -> WorkflowHandle[Any, CampaignProgress]:
        # The handle the start returned: waiting on its result lets the test server skip time.
        return await start_campaign(
            self.env.client,
            self.settings,
            campaign_id=campaign_id,
            name="November news",
            index=False,
            **kwargs,
        )

    def received(self) -> Counter[str]:
        return Counter(r for m in self.postmark.messages() for r in m["Recipients"])

    async def until_received(self, count: int, timeout: float = 20) -> Counter[str]:
        """What Postmark holds once it holds `count` emails (real time: the test server's clock stays)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while sum(self.received().values()) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        return self.received()

    def row(self, campaign_id: int) -> Campaign:
        with self.sessions()() as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            return campaign

    def recipient_statuses(self, campaign_id: int) -> Counter[str]:
        with self.sessions()() as session:
            return Counter(
                status.value
                for status in session.scalars(
                    select(CampaignRecipient.status).where(CampaignRecipient.campaign_id == campaign_id)
                )
            )


@asynccontextmanager
async def campaign_world(
    settings: Settings, time_skipping: WorkflowEnvironment, postmark_server: RunningServer, **changes: Any
) -> AsyncIterator[Send]:
    """Two lists and a marketing template, with workers on fresh task queues while it is open;
    `changes` go into the workers' settings."""
    settings = isolated(settings, postmark_server, **changes)
    with transaction(session_factory(settings.resolved_database_url)) as session:
        news = create_list(session, name="News").id
        offers = create_list(session, name="Offers").id
        template = create_template(
            session,
            name=f"news-{uuid.uuid4().hex[:6]}",
            kind=TemplateKind.MARKETING,
            subject="News for {{ contact.email }}",
            html_body="<p>Hello</p>",
        ).id
    async with running_workers(time_skipping.client, WorkerDeps(settings=settings)):
        yield Send(time_skipping, settings, postmark_server, news, offers, template)
