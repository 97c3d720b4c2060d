"""A campaign batch that Postmark refuses for a day, on the time-skipping server: its recipients are
closed as failed, the rest of the campaign goes out, and the campaign ends sent with the failures
counted."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from nurture.campaigns.sending import BatchCounts
from nurture.campaigns.timezones import LocalTime
from nurture.db.models import CampaignRecipient, CampaignStatus, Message, MessageStatus
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from tests.workflows.campaign_world import Send, campaign_world
from tests.workflows.histories import record

FAULTS = 1_000_000


@pytest.fixture
async def send(
    settings: Settings, time_skipping: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[Send]:
    # The local server's search shows a message at once: no need to hold a key a minute (real time)
    # after a 500 before asking it, while the test server's clock races through the day.
    async with campaign_world(settings, time_skipping, postmark_server, reconcile_delay=0.0) as world:
        yield world


async def test_a_batch_postmark_refuses_for_a_day_is_failed_and_the_rest_is_sent(send: Send) -> None:
    # Two waves 25 hours apart, so that the first wave's batch can fail for a whole day and Postmark
    # can recover before the second: 09:00 in Kiritimati (UTC+14), then in Pago Pago (UTC-11).
    send.contacts(3, send.news, prefix="kiritimati", timezone="Pacific/Kiritimati")
    send.contacts(2, send.news, prefix="pago", timezone="Pacific/Pago_Pago")
    day = (await send.env.get_current_time() + timedelta(days=3)).date()
    first = datetime.combine(day, time(9), tzinfo=ZoneInfo("Pacific/Kiritimati"))
    second = datetime.combine(day, time(9), tzinfo=ZoneInfo("Pacific/Pago_Pago"))
    assert second - first == timedelta(hours=25)
    nine = datetime.combine(day, time(9), tzinfo=UTC)
    campaign_id = send.campaign(status=CampaignStatus.SCHEDULED, scheduled_at=nine, in_contact_timezone=True)
    send.postmark.add_fault("500", count=FAULTS)  # every send answers 500 until the faults are cleared
    handle = await send.start(campaign_id, scheduled_at=LocalTime(nine, None).first())

    # A day and half an hour after the first wave was due, its batch has been given up.
    await send.env.sleep(first + timedelta(days=1, minutes=30) - await send.env.get_current_time())
    for _ in range(200):  # the give-up itself runs in real time
        if send.recipient_statuses(campaign_id)["failed"] == 3:
            break
        await asyncio.sleep(0.05)
    assert send.recipient_statuses(campaign_id) == Counter({"failed": 3, "pending": 2})
    assert send.received() == Counter()
    [left] = send.postmark.state.faults.pending()
    assert FAULTS - left.remaining > 10  # Postmark was tried again and again through the day
    send.postmark.state.faults.clear()  # Postmark is back before the second wave is due

    progress = await handle.result()
    await record(send.env.client, workflow_id=handle.id, name="campaign_batch_given_up")

    assert set(send.received()) == {"pago0@example.com", "pago1@example.com"}
    assert (progress.status, progress.counts) == ("sent", BatchCounts(sent=2, failed=3))
    row = send.row(campaign_id)
    assert (row.status, row.reason) == (
        CampaignStatus.SENT,
        "3 of 5 recipients failed; 1 batch was given up after a day of sending errors",
    )
    with send.sessions()() as session:
        failed = session.execute(
            select(CampaignRecipient.reason, Message.status, Message.attempts)
            .join(Message, Message.id == CampaignRecipient.message_id)
            .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == "failed")
        ).all()
    assert len(failed) == 3
    for reason, status, attempts in failed:
        assert (reason or "").startswith("gave up: ") and status == MessageStatus.FAILED and attempts > 10
