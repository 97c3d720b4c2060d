"""The timed side of the campaign benchmark: a campaign sent by its workflow, end to end, with the
worker's memory sampled against the workflow's own count of finished recipients."""

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from bench.processes import memory_kib
from nurture.campaigns.control import campaign_progress, start_campaign
from nurture.campaigns.sending import CampaignProgress
from nurture.db.models import Campaign, CampaignRecipient, Message
from nurture.settings import Settings

SAMPLE_SECONDS = 0.5


@dataclass(frozen=True)
class Sample:
    """The largest worker's resident memory (KiB) when the campaign had finished `done` recipients."""

    done: int
    rss_kib: int


@dataclass(frozen=True)
class CampaignRun:
    """How the end-to-end send went."""

    started: datetime
    seconds: float
    progress: CampaignProgress
    samples: list[Sample]
    peak_kib: int

    def memory_at(self, share: float) -> int | None:
        """The worker's memory (KiB) at the first sample at or past `share` of the recipients."""
        target = math.ceil(share * (self.progress.recipients or 0))
        return next((s.rss_kib for s in self.samples if s.done >= target), None)


def _largest_kib(pids: list[int]) -> tuple[int, int]:
    """The largest resident memory and the largest peak of these workers (KiB)."""
    readings = [memory_kib(pid) for pid in pids]
    return max(rss for rss, _ in readings), max(peak for _, peak in readings)


async def _watch(client: Client, *, campaign_id: int, pids: list[int], into: list[Sample]) -> None:
    """Sample every half second until cancelled: the progress query, then the memory at once."""
    while True:
        # A query can miss while the run continues as new: the next one counts.
        with contextlib.suppress(RPCError, WorkflowQueryFailedError):
            progress = await campaign_progress(client, campaign_id=campaign_id)
            into.append(Sample(progress.counts.done, _largest_kib(pids)[0]))
        await asyncio.sleep(SAMPLE_SECONDS)


async def send_campaign(
    client: Client, settings: Settings, *, campaign_id: int, worker_pids: list[int]
) -> CampaignRun:
    """Start the campaign as the API does and wait for its workflow's result (every batch done)."""
    samples: list[Sample] = []
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    handle = await start_campaign(client, settings, campaign_id=campaign_id, name="Bench digest")
    watcher = asyncio.create_task(_watch(client, campaign_id=campaign_id, pids=worker_pids, into=samples))
    try:
        progress = await handle.result()  # follows continue-as-new to the last run
    finally:
        # Not left to finish its sample: after Ctrl-C the server may be gone, and a query retries.
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    seconds = time.perf_counter() - started
    rss, peak = _largest_kib(worker_pids)
    samples.append(Sample(progress.counts.done, rss))
    return CampaignRun(started_at, seconds, progress, samples, peak)


def phases(sessions: sessionmaker[Session], *, campaign_id: int, started: datetime) -> dict[str, float]:
    """Seconds from the start until the audience was fixed, and the first and last email sent."""
    with sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.audience_fixed_at is not None
        first, last = session.execute(
            select(func.min(Message.sent_at), func.max(Message.sent_at))
            .join(CampaignRecipient, CampaignRecipient.message_id == Message.id)
            .where(CampaignRecipient.campaign_id == campaign_id)
        ).one()
    assert first is not None and last is not None, "no email of the campaign was sent"
    return {
        "audience fixed": (campaign.audience_fixed_at - started).total_seconds(),
        "first sent": (first - started).total_seconds(),
        "last sent": (last - started).total_seconds(),
    }
