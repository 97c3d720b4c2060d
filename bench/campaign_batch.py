"""The CPU a campaign batch costs a worker, per email: one batch thread, no Temporal server, no second worker.

    .venv/bin/python -m bench.campaign_batch [--batches 12] [--database-url URL]

The end-to-end campaign benchmark moves with the host (its rate halved from one machine of the
same kind to another), and two workers share one write lock on SQLite. This one times what a
change to the send pipeline changes: `send_campaign_batch`'s work for batches of 500 recipients
of the benchmark's newsletter, run in Temporal's `ActivityEnvironment`, through the local
Postmark-compatible server (a process of its own, so its CPU is not counted), in this process's
CPU time. The first batch warms up (compiles, connects) and is not counted; the median of the
others is the figure. Compare two versions of the code run back to back, not runs on different
days.
"""

import argparse
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.campaign_sends import CampaignSendActivities
from bench.campaign_setup import draft_campaign, newsletter_template, subscribed_list
from bench.processes import free_port, start_postmark_server
from bench.raw_posting import server_count
from nurture.campaigns.audience import CampaignAudience
from nurture.campaigns.recipients import fix_recipients
from nurture.campaigns.sending import MAX_BATCH, CampaignBatch
from nurture.db.migrate import upgrade
from nurture.db.session import session_factory, transaction
from nurture.heap import freeze_startup_objects
from nurture.settings import Settings
from workers.processes import ProcessGroup
from workers.registration import WorkerDeps


@dataclass(frozen=True)
class BatchCosts:
    """Each counted batch's CPU time per email, in microseconds, in the order they ran."""

    per_email_us: list[float]

    @property
    def median(self) -> float:
        """The figure: the median batch's CPU per email."""
        return statistics.median(self.per_email_us)


def measure(*, batches: int, database_url: str | None, data: Path) -> BatchCosts:
    """Send `batches` batches of a fresh campaign and time all but the first; every email must
    reach the local server."""
    url = database_url or f"sqlite:///{data / 'bench.db'}"
    upgrade(url)
    sessions = session_factory(url)
    list_id = subscribed_list(sessions, count=batches * MAX_BATCH)
    campaign_id = draft_campaign(sessions, template_id=newsletter_template(sessions), list_id=list_id)
    with transaction(sessions) as session:
        audience = CampaignAudience(lists=[list_id])
        fix_recipients(session, campaign_id=campaign_id, audience=audience, shuffle=False)
    port = free_port()
    settings = Settings(
        env="test",
        data_dir=data,
        database_url=url,
        postmark_local_port=port,
        postmark_api_url=f"http://127.0.0.1:{port}/",
        postmark_server_token=f"bench-{uuid.uuid4().hex}",
    )
    group = ProcessGroup()
    try:
        start_postmark_server(group, settings, log=data / "postmark.log")
        sends = CampaignSendActivities(sessions=sessions, pipeline=WorkerDeps(settings).pipeline)
        # Temporal's own context for running an activity outside a worker (it heartbeats to nothing).
        activity = ActivityEnvironment()
        freeze_startup_objects()  # as `nurture worker` does once it is up
        costs = []
        for number in range(batches):
            batch = CampaignBatch(
                campaign_id=campaign_id, first=number * MAX_BATCH, end=(number + 1) * MAX_BATCH
            )
            began = time.process_time()
            counts = activity.run(sends.send_campaign_batch, batch)
            spent = time.process_time() - began
            if counts.sent != MAX_BATCH:
                raise RuntimeError(f"batch {number} sent {counts.sent} of {MAX_BATCH}: {counts}")
            if number > 0:  # the first compiles the template and opens the connections
                costs.append(spent * 1e6 / MAX_BATCH)
        held = server_count(settings.postmark_api_url.rstrip("/"), settings.postmark_server_token)
        if held != batches * MAX_BATCH:
            raise RuntimeError(f"the Postmark server holds {held} messages, not {batches * MAX_BATCH}")
    finally:
        group.stop(timeout=5)
    return BatchCosts(costs)


def main() -> None:
    """Run and print the figure."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=12, help="of 500; the first is not counted")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    if args.batches < 2:
        parser.error("--batches must be at least 2: the first is not counted")
    with tempfile.TemporaryDirectory(prefix="nurture-bench-") as folder:
        costs = measure(batches=args.batches, database_url=args.database_url, data=Path(folder))
    shown = ", ".join(f"{us:,.0f}" for us in costs.per_email_us)
    print(f"CPU per email, batches of {MAX_BATCH}: median {costs.median:,.0f} µs ({shown})")


if __name__ == "__main__":
    main()
