"""A campaign's send on the time-skipping server, through the local Postmark server: every eligible
recipient once, in batches; schedule, pause, resume and cancel; an A/B test's winner for the rest."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from nurture.campaigns.sending import CampaignProgress
from nurture.crud.suppressions import suppress
from nurture.db.models import (
    CampaignRecipient,
    CampaignStatus,
    Contact,
    EngagementType,
    ListSubscription,
    MessageEvent,
    RecipientStatus,
    SubscriptionStatus,
    SuppressionReason,
)
from nurture.db.session import transaction
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from tests.workflows.campaign_world import Send, campaign_world
from tests.workflows.histories import record


@pytest.fixture
async def send(
    settings: Settings, time_skipping: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[Send]:
    async with campaign_world(settings, time_skipping, postmark_server) as world:
        yield world


async def test_every_eligible_recipient_gets_one_email_in_batches_and_nobody_else(send: Send) -> None:
    eligible = send.contacts(1_150, send.news, prefix="n")
    eligible += send.contacts(50, send.offers, send.news, prefix="both")  # in both lists: once
    unsubscribed = send.contacts(3, prefix="gone")
    suppressed = send.contacts(2, send.news, prefix="bounced")
    with transaction(send.sessions()) as session:
        for email in suppressed:
            suppress(session, email=email, reason=SuppressionReason.HARD_BOUNCE, source="test")
        for email in unsubscribed:
            contact = session.scalar(select(Contact).where(Contact.email == email))
            assert contact is not None
            session.add(
                ListSubscription(
                    list_id=send.news, contact_id=contact.id, status=SubscriptionStatus.UNSUBSCRIBED
                )
            )
    campaign_id = send.campaign()

    progress = await (await send.start(campaign_id)).result()

    assert send.received() == Counter({email: 1 for email in eligible})
    assert (progress.status, progress.recipients, progress.counts.sent) == ("sent", 1_200, 1_200)
    row = send.row(campaign_id)
    assert (row.status, row.recipients) == (CampaignStatus.SENT, 1_200)
    assert row.started_at is not None and row.finished_at is not None
    assert send.recipient_statuses(campaign_id) == Counter({"sent": 1_200})
    # Every email carries the campaign's unsubscribe headers and its key in Metadata.
    one = send.postmark.messages()[0]
    assert one["MessageStream"] == "broadcast" and one["Metadata"]["nurture_message_key"].startswith(
        f"campaign:{campaign_id}:contact:"
    )


async def test_a_scheduled_campaign_cancelled_before_it_is_due_sends_nothing(send: Send) -> None:
    send.contacts(5, send.news)
    campaign_id = send.campaign(status=CampaignStatus.SCHEDULED)
    # The test server's clock, which earlier tests have moved on: not the wall clock.
    due = await send.env.get_current_time() + timedelta(days=2)
    handle = await send.start(campaign_id, scheduled_at=due)
    progress = await handle.query("progress", result_type=CampaignProgress)
    assert progress.status == "scheduled"

    await handle.signal("cancel")
    progress = await handle.result()

    assert progress.status == "cancelled" and send.received() == Counter()
    assert send.row(campaign_id).status == CampaignStatus.CANCELLED


async def test_a_paused_campaign_sends_no_new_batch_until_resumed_and_a_cancel_stops_the_rest(
    send: Send,
) -> None:
    send.contacts(40, send.news)
    # 10 a minute: batches of 10, one a minute.
    campaign_id = send.campaign(send_rate=10)
    handle = await send.start(campaign_id)
    for _ in range(200):
        if sum(send.received().values()) >= 10:
            break
        await asyncio.sleep(0.05)
    await handle.signal("pause")
    await send.env.sleep(timedelta(minutes=10))
    paused = sum(send.received().values())
    assert paused in (10, 20)  # the batch in flight when the pause came may finish
    assert (await handle.query("progress", result_type=CampaignProgress)).status == "paused"
    await send.env.sleep(timedelta(minutes=10))
    assert sum(send.received().values()) == paused

    await handle.signal("resume")
    await handle.signal("cancel")
    progress = await handle.result()
    await record(send.env.client, workflow_id=handle.id, name="campaign_paused_and_cancelled")

    assert progress.status == "cancelled"
    assert sum(send.received().values()) == progress.counts.sent < 40
    statuses = send.recipient_statuses(campaign_id)
    assert statuses["sent"] == progress.counts.sent and statuses["cancelled"] == 40 - progress.counts.sent


async def test_an_ab_test_sends_the_sample_then_the_winner_to_the_rest(send: Send) -> None:
    send.contacts(50, send.news)
    campaign_id = send.campaign(
        ab_test={
            "variants": [{"subject": "Plain subject"}, {"subject": "Curious subject?"}],
            "sample_percent": 20,
            "wait": "4h",
            "metric": "opens",
        }
    )
    handle = await send.start(campaign_id)
    for _ in range(200):  # the sample's rows are written just after Postmark takes its emails
        if send.recipient_statuses(campaign_id)["sent"] >= 10:
            break
        await asyncio.sleep(0.05)
    # Two humans open the curious subject; a privacy proxy "opens" the plain one three times.
    with transaction(send.sessions()) as session:
        sample = session.execute(
            select(CampaignRecipient.variant, CampaignRecipient.message_id).where(
                CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.in_sample.is_(True)
            )
        ).all()
        plain = [m for v, m in sample if v == 0]
        curious = [m for v, m in sample if v == 1]
        assert len(plain) == len(curious) == 5
        for message_id in curious[:2]:
            session.add(MessageEvent(message_id=message_id, type=EngagementType.OPENED, source="test"))
        for message_id in plain[:3]:
            session.add(
                MessageEvent(message_id=message_id, type=EngagementType.OPENED, source="test", machine=True)
            )

    progress = await handle.result()
    await record(send.env.client, workflow_id=handle.id, name="campaign_ab_test")

    assert progress.winner == 1 and send.row(campaign_id).winner == 1
    subjects = Counter(m["Subject"] for m in send.postmark.messages())
    assert subjects == Counter({"Plain subject": 5, "Curious subject?": 45})
    assert send.recipient_statuses(campaign_id) == Counter({RecipientStatus.SENT.value: 50})
