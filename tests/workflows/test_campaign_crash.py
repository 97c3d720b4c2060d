"""A 20,000-recipient campaign whose worker is killed (SIGKILL) three times mid-send: after the
restarts, the local Postmark server holds exactly one email per eligible recipient, none for the rest."""

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from chaos.crash import DEADLINE, KILL_AT, Crash, WorkerProcess
from nurture.campaigns.control import start_campaign
from nurture.crud.lists import create_list
from nurture.crud.suppressions import suppress
from nurture.crud.templates import create_template
from nurture.db.models import (
    ActivityEvent,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Contact,
    ContactStatus,
    ListSubscription,
    SubscriptionStatus,
    SuppressionReason,
    TemplateKind,
)
from nurture.db.session import transaction
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from tests.conftest import _postgres_reachable
from tests.isolated import isolated

AUDIENCE = 20_000
# Of the audience, this many are on both audience lists: one email each all the same.
IN_BOTH = 500


@dataclass
class Audience:
    """Who must get the campaign once, and who must get nothing, by why."""

    campaign_id: int
    eligible: list[str]
    ineligible: dict[str, list[str]] = field(default_factory=dict)


def _contacts(session: Session, emails: list[str], **values: Any) -> list[int]:
    """Insert contacts in one statement; their ids, in order."""
    session.execute(insert(Contact), [{"email": email, **values} for email in emails])
    ids = dict(session.execute(select(Contact.email, Contact.id).where(Contact.email.in_(emails))).all())
    return [ids[email] for email in emails]


def _subscribe(
    session: Session,
    contact_ids: list[int],
    list_id: int,
    status: SubscriptionStatus = SubscriptionStatus.SUBSCRIBED,
) -> None:
    rows = [{"list_id": list_id, "contact_id": c, "status": status} for c in contact_ids]
    session.execute(insert(ListSubscription), rows)


def _audience(sessions: sessionmaker[Session]) -> Audience:
    """20,000 eligible contacts, a few of each kind that must get nothing, and the campaign to them."""
    with transaction(sessions) as session:
        news = create_list(session, name="News").id
        offers = create_list(session, name="Offers").id
        customers = create_list(session, name="Customers").id
        partners = create_list(session, name="Partners").id
        template = create_template(
            session,
            name="November news",
            kind=TemplateKind.MARKETING,
            subject="News for {{ contact.email }}",
            html_body="<p>Hello {{ contact.email }}, here is what is new.</p>",
        ).id
        eligible = [f"r{i:05}@example.com" for i in range(AUDIENCE)]
        ids = _contacts(session, eligible)
        _subscribe(session, ids, news)
        _subscribe(session, ids[:IN_BOTH], offers)

        ineligible: dict[str, list[str]] = {}

        def group(why: str, *lists: int, **values: Any) -> list[int]:
            ineligible[why] = [f"{why.replace(' ', '-')}{i}@example.com" for i in range(5)]
            contact_ids = _contacts(session, ineligible[why], **values)
            for list_id in lists:
                _subscribe(session, contact_ids, list_id)
            return contact_ids

        _subscribe(session, group("unsubscribed"), news, SubscriptionStatus.UNSUBSCRIBED)
        _subscribe(session, group("pending"), offers, SubscriptionStatus.PENDING)
        group("suppressed", news)
        for email in ineligible["suppressed"]:
            suppress(session, email=email, reason=SuppressionReason.HARD_BOUNCE, source="test")
        for status in (ContactStatus.UNSUBSCRIBED, ContactStatus.BOUNCED, ContactStatus.COMPLAINED):
            group(f"contact {status.value}", news, status=status)
        group("excluded", news, customers)
        group("other list", partners)

        campaign = Campaign(
            name="November news",
            template_id=template,
            audience={"lists": [news, offers], "exclude_lists": [customers]},
        )
        session.add(campaign)
        session.flush()
        return Audience(campaign.id, eligible, ineligible)


@pytest.fixture
def crash(
    settings: Settings, dev_server: WorkflowEnvironment, postmark_server: RunningServer, tmp_path: Path
) -> Iterator[Crash]:
    if settings.resolved_database_url.startswith("sqlite") and _postgres_reachable():
        # Two minutes of kills and restarts is enough once: on PostgreSQL, SQLite when it is not there.
        pytest.skip("the crash test takes two minutes, so it runs once: on PostgreSQL, which is reachable")
    target = dev_server.client.service_client.config.target_host
    settings = isolated(settings, postmark_server, temporal_address=target)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    try:
        yield Crash(settings, postmark_server, worker)
    finally:
        worker.stop()


async def test_a_campaign_whose_worker_is_killed_three_times_reaches_everyone_exactly_once(
    crash: Crash, dev_server: WorkflowEnvironment
) -> None:
    audience = _audience(crash.sessions())
    crash.note("audience written")
    crash.worker.start()
    crash.handle = await start_campaign(
        dev_server.client, crash.settings, campaign_id=audience.campaign_id, name="November news", index=False
    )
    left_behind: list[set[str]] = []
    for share in KILL_AT:
        await crash.wait_for_stored(int(share * AUDIENCE))
        left_behind.append(await crash.kill_mid_send())
        await crash.restart()
    try:
        progress = await asyncio.wait_for(crash.handle.result(), timeout=DEADLINE)
    except TimeoutError:
        await crash.fail(f"the campaign did not finish within {DEADLINE:.0f} s of the last restart")
    crash.note("campaign sent")
    print("\n".join(crash.timeline))

    received = Counter(a.email for m in crash.postmark.state.store.messages() for a in m.email.to)
    twice = {email: n for email, n in received.items() if n > 1}
    missing = [email for email in audience.eligible if email not in received]
    assert not twice, (
        f"{len(twice)} recipients got the campaign more than once, e.g. {list(twice.items())[:5]}"
    )
    assert not missing, f"{len(missing)} eligible recipients got nothing, e.g. {missing[:5]}"
    for why, emails in audience.ineligible.items():
        assert not [e for e in emails if e in received], f"{why} contacts got the campaign"
    assert received.total() == AUDIENCE

    assert (progress.status, progress.recipients, progress.handed_out) == ("sent", AUDIENCE, AUDIENCE)
    assert progress.counts.model_dump() == {"sent": AUDIENCE, "suppressed": 0, "failed": 0}
    with crash.sessions()() as session:
        campaign = session.get(Campaign, audience.campaign_id)
        assert campaign is not None
        assert (campaign.status, campaign.recipients) == (CampaignStatus.SENT, AUDIENCE)
        of_campaign = CampaignRecipient.campaign_id == audience.campaign_id
        statuses = Counter(session.scalars(select(CampaignRecipient.status).where(of_campaign)))
        events = session.scalars(select(ActivityEvent.data).where(ActivityEvent.type == "email.sent"))
        reconciled = {data["message_key"] for data in events if data.get("reconciled")}
    assert statuses == Counter({"sent": AUDIENCE})
    # What Postmark took just before each kill was found there afterwards, not sent again.
    assert any(left_behind), "no kill came between Postmark taking emails and the ledger recording them"
    for kill, keys in enumerate(left_behind, start=1):
        assert keys <= reconciled, f"kill {kill}: {len(keys - reconciled)} keys were not reconciled"
