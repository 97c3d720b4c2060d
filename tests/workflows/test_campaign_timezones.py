"""A campaign sent in each contact's time zone, on the time-skipping server: the audience is fixed when
the time first comes anywhere, each zone's contacts get it when their clock shows it, and a cancel
between waves stops the later ones."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from nurture.campaigns.sending import CampaignProgress
from nurture.campaigns.timezones import LocalTime
from nurture.db.models import CampaignRecipient, CampaignStatus, Contact
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from tests.workflows.campaign_world import Send, campaign_world
from tests.workflows.histories import record

ZONES = {"tokyo": "Asia/Tokyo", "paris": "Europe/Paris", "ny": "America/New_York"}


@pytest.fixture
async def send(
    settings: Settings, time_skipping: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[Send]:
    async with campaign_world(settings, time_skipping, postmark_server) as world:
        yield world


def _emails(*prefixes: str) -> set[str]:
    counts = {"tokyo": 2, "paris": 2, "ny": 2, "nozone": 1}
    return {f"{p}{i}@example.com" for p in prefixes for i in range(counts[p])}


async def _at_nine_in_each_zone(send: Send) -> tuple[int, WorkflowHandle[Any, CampaignProgress], dict]:
    """Two contacts in each of Tokyo, Paris and New York, and one without a zone (the campaign's:
    Paris); a campaign at 09:00 in each contact's zone, three days ahead on the test server's clock.
    Started as POST /schedule starts it: when it is first 09:00 anywhere."""
    for prefix, zone in ZONES.items():
        send.contacts(2, send.news, prefix=prefix, timezone=zone)
    send.contacts(1, send.news, prefix="nozone")
    day = (await send.env.get_current_time() + timedelta(days=3)).date()
    due = {prefix: datetime.combine(day, time(9), tzinfo=ZoneInfo(zone)) for prefix, zone in ZONES.items()}
    campaign_id = send.campaign(
        status=CampaignStatus.SCHEDULED,
        scheduled_at=due["paris"],
        in_contact_timezone=True,
        timezone="Europe/Paris",
    )
    start = LocalTime(due["paris"], "Europe/Paris").first()
    return campaign_id, await send.start(campaign_id, scheduled_at=start), due


async def _sleep_until(send: Send, moment: datetime) -> None:
    await send.env.sleep(moment - await send.env.get_current_time())


async def test_each_zone_gets_the_campaign_when_its_clock_shows_the_time(send: Send) -> None:
    campaign_id, handle, due = await _at_nine_in_each_zone(send)
    assert (await handle.query("progress", result_type=CampaignProgress)).status == "scheduled"

    # A minute before 09:00 in Tokyo: the audience is fixed (it was 09:00 in Kiritimati hours ago),
    # and nobody has the email yet.
    await _sleep_until(send, due["tokyo"] - timedelta(minutes=1))
    progress = await handle.query("progress", result_type=CampaignProgress)
    for _ in range(100):  # the audience's activity may still be finishing, in real time
        if progress.recipients is not None:
            break
        await asyncio.sleep(0.05)
        progress = await handle.query("progress", result_type=CampaignProgress)
    assert (progress.status, progress.recipients, send.received()) == ("sending", 7, Counter())
    with send.sessions()() as session:
        send_at = dict(
            session.execute(
                select(Contact.email, CampaignRecipient.send_at)
                .join(Contact, Contact.id == CampaignRecipient.contact_id)
                .where(CampaignRecipient.campaign_id == campaign_id)
            ).all()
        )
    assert send_at == {
        **{email: due["tokyo"] for email in _emails("tokyo")},
        **{email: due["paris"] for email in _emails("paris", "nozone")},
        **{email: due["ny"] for email in _emails("ny")},
    }

    await _sleep_until(send, due["tokyo"] + timedelta(minutes=1))
    assert set(await send.until_received(2)) == _emails("tokyo")
    await _sleep_until(send, due["paris"] + timedelta(minutes=1))
    assert set(await send.until_received(5)) == _emails("tokyo", "paris", "nozone")

    progress = await handle.result()
    await record(send.env.client, workflow_id=handle.id, name="campaign_time_zones")

    assert send.received() == Counter({email: 1 for email in _emails("tokyo", "paris", "nozone", "ny")})
    assert (progress.status, progress.counts.sent) == ("sent", 7)
    assert send.row(campaign_id).status == CampaignStatus.SENT


async def test_a_cancel_between_waves_stops_the_later_zones(send: Send) -> None:
    campaign_id, handle, due = await _at_nine_in_each_zone(send)
    await _sleep_until(send, due["tokyo"] + timedelta(minutes=1))
    assert set(await send.until_received(2)) == _emails("tokyo")

    await handle.signal("cancel")
    progress = await handle.result()

    assert progress.status == "cancelled" and set(send.received()) == _emails("tokyo")
    assert send.recipient_statuses(campaign_id) == Counter({"sent": 2, "cancelled": 5})
    row = send.row(campaign_id)
    assert (row.status, row.reason) == (
        CampaignStatus.CANCELLED,
        "cancelled while sending in each contact's time zone",
    )
