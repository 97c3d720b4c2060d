"""Campaign benchmark: one newsletter to 100,000 subscribers through the local Postmark-compatible
server, end to end, against posting the very same batches straight to that server.

    .venv/bin/python -m bench.campaigns [--recipients 100000] [--database-url URL] [--raw-rounds 3] [--keep]

Setup (not timed): the contacts and their subscriptions are inserted in bulk, with a ~5 KB
marketing template (personalised, five links, no text body: the text is derived) and a draft
campaign of it to the list. The local Postmark server and the worker run as processes of their
own, as in production: the server has its own CPU, and the worker's memory can be read.

End to end: from `start_campaign` until the campaign workflow returns with every recipient sent
(audience fixed, every email rendered, reserved in the ledger, posted in batches of 500, two per
worker in flight, and recorded). The worker's resident memory (VmRSS) is sampled every 0.5 s
alongside the workflow's `progress` query, and shown at 10, 25, 50, 75 and 100% of the
recipients.

Raw: the campaign's emails are read back from the send ledger and cut into the same batches
(by recipient position, 500 each), their JSON bodies built as the worker's postmarker builds
them, and posted to `/email/batch` with httpx, as many at a time as the campaign had in
flight, timed from the first post to the last answer; building the bodies is not timed. The
server's inbox is emptied before each round, so every side fills the same server from empty (it
never holds more than N messages).
Three rounds, after the campaign; their median is the raw rate, as a single round of a few
seconds is at the mercy of whatever else the machine does. After the campaign and after each
round, the server must hold exactly N messages, or the run fails.

The SQLite file (with --database-url, only the logs) goes to a new temporary folder, removed
after a successful run unless --keep; a failed run keeps it, and its errors name the logs.

Targets (issue 5): at least 1,000 emails per second end to end on a 2-core machine, at least
0.7 of the raw rate, and a flat worker: under 10% growth from 25% to 100% of the list.
"""

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from bench.campaign_send import CampaignRun, phases, send_campaign
from bench.campaign_setup import draft_campaign, newsletter_template, subscribed_list
from bench.processes import free_port, memory_kib, start_dev_server, start_postmark_server, start_worker
from bench.raw_posting import RawRun, batch_bodies, raw_rounds, server_count
from bench.results import BenchmarkRun, Result, at_least, shown, under
from nurture.campaigns.sending import MAX_BATCH
from nurture.db.migrate import upgrade
from nurture.db.session import session_factory
from nurture.settings import Settings
from workers.processes import ProcessGroup
from workers.registration import CAMPAIGN_BATCHES_PER_WORKER

MILESTONES = (0.10, 0.25, 0.50, 0.75, 1.0)
TARGET_RATE = 1_000
TARGET_RATIO = 0.7
# "Flat": the worker grows less than this from a quarter of the list to all of it.
FLAT = 0.10


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(
    *,
    database: str,
    recipients: int,
    run: CampaignRun,
    raws: list[RawRun],
    times: dict[str, float],
    idle_kib: int,
    workers: int,
    in_flight: int,
) -> list[Result]:
    """Print the figures, each target with whether it was met; return them."""
    end_to_end = recipients / run.seconds
    rates = [r.emails / r.seconds for r in raws]
    raw_rate = statistics.median(rates)
    ratio = end_to_end / raw_rate
    size = raws[0].body_bytes / raws[0].emails / 1024
    print(
        f"database: {database}; worker processes: {workers}; recipients: {recipients:,}; "
        f"batches: {raws[0].batches} of up to "
        f"{MAX_BATCH}, {in_flight} in flight; {size:.1f} KiB of JSON per email"
    )
    print(
        f"end to end: {recipients:,} emails in {run.seconds:.1f} s = {end_to_end:,.0f} emails/s "
        f"(target {TARGET_RATE:,}: {_verdict(end_to_end >= TARGET_RATE)})"
    )
    sending = times["last sent"] - times["audience fixed"]
    print(
        f"  audience fixed at {times['audience fixed']:.1f} s; first email sent at "
        f"{times['first sent']:.1f} s, last at {times['last sent']:.1f} s ({recipients / sending:,.0f} "
        f"emails/s from the audience to the last); result at {run.seconds:.1f} s"
    )
    rounds = ", ".join(f"{rate:,.0f}" for rate in rates)
    print(
        f"raw /email/batch: {raw_rate:,.0f} emails/s, median of {len(raws)} rounds ({rounds}), "
        f"each the same {raws[0].batches} batches, {in_flight} at a time, to an emptied inbox"
    )
    print(f"end to end / raw: {ratio:.2f} (target {TARGET_RATIO}: {_verdict(ratio >= TARGET_RATIO)})")
    memory = [(share, run.memory_at(share)) for share in MILESTONES]
    points = ", ".join(f"{share:.0%} {kib / 1024:.0f}" if kib else f"{share:.0%} -" for share, kib in memory)
    print(
        f"worker RSS (MiB, the largest worker): idle {idle_kib / 1024:.0f}; {points}; "
        f"peak {run.peak_kib / 1024:.0f}"
    )
    quarter, full = memory[1][1], memory[-1][1]
    growth = None
    if quarter and full:
        growth = full / quarter - 1
        print(f"worker growth 25% -> 100%: {growth:+.1%} (flat, under {FLAT:.0%}: {_verdict(growth < FLAT)})")
    else:
        print("worker growth 25% -> 100%: not sampled (the send was too quick; send to more recipients)")
    return [
        at_least("end to end", end_to_end, TARGET_RATE, "emails/s"),
        shown(f"raw /email/batch, same batches (median of {len(raws)})", raw_rate, "emails/s"),
        at_least("end to end, share of raw", ratio, TARGET_RATIO, ratio_of="end to end / raw /email/batch"),
        shown("worker RSS idle", idle_kib / 1024, "MiB"),
        shown("worker RSS at 25% of the recipients", _mib(quarter), "MiB"),
        shown("worker RSS at 100%", _mib(full), "MiB"),
        under(
            "worker growth 25% to 100%",
            None if growth is None else growth * 100,
            FLAT * 100,
            "%",
            ratio_of="RSS at 100% / RSS at 25%, less 1",
        ),
        shown("worker peak RSS (VmHWM)", run.peak_kib / 1024, "MiB"),
    ]


def _mib(kib: int | None) -> float | None:
    return None if kib is None else kib / 1024


async def main(
    recipients: int, database_url: str | None, rounds: int, keep: bool, workers: int
) -> BenchmarkRun:
    """Set up, send the campaign, post the raw rounds, stop every child, report; return the figures."""
    data = Path(tempfile.mkdtemp(prefix="nurture-bench-"))
    url = database_url or f"sqlite:///{data / 'bench.db'}"
    upgrade(url)
    sessions = session_factory(url)
    began = time.perf_counter()
    list_id = await asyncio.to_thread(subscribed_list, sessions, count=recipients)
    campaign_id = draft_campaign(sessions, template_id=newsletter_template(sessions), list_id=list_id)
    setup = time.perf_counter() - began
    print(
        f"setup (not timed): {recipients:,} subscribed contacts in {setup:.1f} s; database and logs in {data}"
    )

    run_id = uuid.uuid4().hex[:8]
    port = free_port()
    group = ProcessGroup()
    env: WorkflowEnvironment | None = None
    try:
        env = await start_dev_server()
        settings = Settings(
            env="test",
            data_dir=data,
            database_url=url,
            temporal_address=env.client.service_client.config.target_host,
            task_queue=f"bench-{run_id}",
            email_task_queue=f"bench-email-{run_id}",
            postmark_local_port=port,
            postmark_api_url=f"http://127.0.0.1:{port}/",
            postmark_server_token=f"bench-{uuid.uuid4().hex}",
            # As many batches in flight as the workers take at once, as operations.md advises.
            campaign_batches_in_flight=CAMPAIGN_BATCHES_PER_WORKER * workers,
        )
        base, token = f"http://127.0.0.1:{port}", settings.postmark_server_token
        start_postmark_server(group, settings, log=data / "postmark.log")
        pids = [
            start_worker(group, settings, log=data / f"worker-{n}.log").process.pid for n in range(workers)
        ]
        idle_kib = max(memory_kib(pid)[0] for pid in pids)

        run = await send_campaign(env.client, settings, campaign_id=campaign_id, worker_pids=pids)
        if (run.progress.status, run.progress.counts.sent) != ("sent", recipients):
            raise RuntimeError(f"not sent to everyone: {run.progress}; see the worker logs in {data}")
        held = await asyncio.to_thread(server_count, base, token)
        if held != recipients:
            raise RuntimeError(
                f"the Postmark server holds {held} messages after the campaign, not {recipients}"
            )
        times = phases(sessions, campaign_id=campaign_id, started=run.started)

        began = time.perf_counter()
        bodies = await asyncio.to_thread(batch_bodies, sessions, campaign_id=campaign_id)
        built = time.perf_counter() - began
        print(
            f"raw bodies (not timed): {len(bodies)} batches read from the ledger and encoded in {built:.1f} s"
        )
        raws = await raw_rounds(
            bodies, base=base, token=token, concurrency=settings.campaign_batches_in_flight, rounds=rounds
        )
    finally:
        group.stop(timeout=5)  # a worker still in a batch (after Ctrl-C) need not finish it
        if env is not None:
            await env.shutdown()
    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    results = report(
        database=database,
        recipients=recipients,
        run=run,
        raws=raws,
        times=times,
        idle_kib=idle_kib,
        workers=workers,
        in_flight=settings.campaign_batches_in_flight,
    )
    if not keep:  # a failed run keeps its files: the errors name its logs
        shutil.rmtree(data)
    plural = "es" if workers > 1 else ""
    return BenchmarkRun(
        "campaigns",
        f"{database}; {recipients:,} recipients; {workers} worker process{plural}; "
        f"{rounds} raw round{'s' if rounds > 1 else ''}",
        results,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--raw-rounds", type=int, default=3, help="raw postings; the median counts")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file and the logs")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (one per core on 2 cores)")
    args = parser.parse_args()
    if args.recipients < 1 or args.raw_rounds < 1:
        parser.error("--recipients and --raw-rounds must be at least 1")
    asyncio.run(main(args.recipients, args.database_url, args.raw_rounds, args.keep, args.workers))
