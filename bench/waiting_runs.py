"""Waiting-runs benchmark: the worker's memory with 10,000 automation runs waiting on a timer.

    .venv/bin/python -m bench.waiting_runs [--runs 10000] [--step 1000] [--database-url URL] [--keep]

Setup (not timed): N contacts subscribed to a list (bulk INSERTs), and an active automation that
tags the contact and then waits 7 days. The Temporal dev server (as `make dev` starts it) and
one worker (`nurture worker`, a process of its own, so its memory can be read) run the runs.

The list is enrolled as a user does it (a bulk enrollment, as `POST /automations/{id}/enrollments`
starts it). Every 0.5 s the runs that have reached the wait are counted in the database; the
worker's and the dev server's resident memory (VmRSS) are read each time another --step runs
are waiting, and once more when all N are waiting and a few seconds have passed.

What bounds the worker's memory: a waiting run needs nothing from the worker until its timer
fires. The worker keeps at most `max_cached_workflows` runs in its sticky cache (workers/ does not
set it: the SDK's default, 1,000) and evicts the least recently used to take a new one; an
evicted run is replayed from its history when it next has work. So the worker grows while the
cache fills, and no further. Target: from half the runs (or the cache size, if larger: the first
sample at or past it) to all N waiting, the worker grows less than 10%. The dev server holds
every open run (its persistence is in memory), so its figures are shown, without a target.
"""

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.campaign_setup import subscribed_list
from bench.processes import dev_server_pid, memory_kib, start_dev_server, start_worker
from bench.results import BenchmarkRun, Result, shown, under
from nurture.automations.bulk import Audience, EnrollmentProgress
from nurture.automations.control import start_enrollment
from nurture.automations.definition import Definition
from nurture.crud.automations import create_automation
from nurture.db.migrate import upgrade
from nurture.db.models import AutomationRun, AutomationStatus
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings
from nurture.temporal.binaries import DEV_SERVER_DYNAMIC_CONFIG
from workers.processes import ProcessGroup
from workers.registration import ACTIVITY_THREADS, WorkerDeps, build_worker

WAIT_STEP = "wait"
SAMPLE_SECONDS = 0.5
# After the last run reaches its wait: its workflow task completes and the worker goes idle.
SETTLE_SECONDS = 5.0
ENROLL_TIMEOUT = 3600.0
# "Flat": the worker grows less than this from the cache-size point to all runs waiting.
FLAT = 0.10


@dataclass(frozen=True)
class Sample:
    """Resident memory (KiB) of the worker and the dev server when `waiting` runs were waiting."""

    waiting: int
    worker_kib: int
    server_kib: int


def waiting_automation(sessions: sessionmaker[Session]) -> int:
    """An active automation that tags the contact, then waits 7 days; its id."""
    definition = Definition.model_validate(
        {
            "triggers": [{"type": "manual"}],
            "steps": [
                {"id": "tag", "type": "tag", "add": ["waiting"]},
                {"id": WAIT_STEP, "type": "wait", "duration": "7d"},
            ],
        }
    )
    with transaction(sessions) as session:
        automation, _ = create_automation(
            session,
            name=f"Bench wait {uuid.uuid4().hex[:8]}",
            definition=definition,
            status=AutomationStatus.ACTIVE,
        )
        return automation.id


def waiting(sessions: sessionmaker[Session], automation_id: int) -> int:
    """How many of the automation's runs have reached the wait."""
    with sessions() as session:
        query = select(func.count()).where(
            AutomationRun.automation_id == automation_id, AutomationRun.current_step == WAIT_STEP
        )
        return int(session.scalar(query) or 0)


def cache_size(client: Client, settings: Settings) -> int:
    """`max_cached_workflows` of the worker that `nurture worker` builds (built here, never run)."""
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        worker = build_worker(client, WorkerDeps(settings=settings), executor=executor)
        return int(worker.config(active_config=True).get("max_cached_workflows", 0))


async def enroll_and_sample(
    client: Client,
    settings: Settings,
    sessions: sessionmaker[Session],
    *,
    automation_id: int,
    list_id: int,
    runs: int,
    step: int,
    pids: tuple[int, int],
) -> tuple[list[Sample], float]:
    """Enroll the list; sample memory at every `step` runs waiting. The samples, and the seconds
    until all were waiting."""

    def sample(count: int) -> Sample:
        return Sample(count, memory_kib(pids[0])[0], memory_kib(pids[1])[0])

    samples = [sample(0)]
    started = time.perf_counter()
    enrollment = await start_enrollment(
        client, settings, automation_id=automation_id, audience=Audience(subscribed_to=list_id)
    )
    count, next_mark = 0, step
    while count < runs:
        if time.perf_counter() - started > ENROLL_TIMEOUT:
            raise TimeoutError(f"only {count:,} of {runs:,} runs reached the wait")
        await asyncio.sleep(SAMPLE_SECONDS)
        count = await asyncio.to_thread(waiting, sessions, automation_id)
        if count >= next_mark:
            samples.append(sample(count))
            next_mark = (count // step + 1) * step
    seconds = time.perf_counter() - started
    progress = await client.get_workflow_handle(enrollment, result_type=EnrollmentProgress).result()
    if progress.started != runs:
        raise RuntimeError(f"the enrollment started {progress.started} runs, not {runs}: {progress}")
    await asyncio.sleep(SETTLE_SECONDS)
    samples.append(sample(runs))
    return samples, seconds


def reference(samples: list[Sample], *, runs: int, cached: int) -> Sample | None:
    """The sample growth is measured from: the first at or past half the runs and the cache size,
    taken before all were waiting; None if the runs never pass the cache."""
    floor = max(runs / 2, cached)
    return next((s for s in samples[1:-1] if floor <= s.waiting < runs), None)


def series(samples: list[Sample]) -> str:
    """Every sample as `waiting: worker / dev server` in MiB, on one line; the last one settled."""
    points = [f"{s.waiting:,}: {s.worker_kib / 1024:.0f} / {s.server_kib / 1024:.0f}" for s in samples]
    return ", ".join(points[:-1]) + f"; after {SETTLE_SECONDS:.0f} s idle, {points[-1]}"


def report(samples: list[Sample], *, runs: int, cached: int, seconds: float, peak_kib: int) -> list[Result]:
    """Print the figures, the target with whether it was met; return them."""
    idle, final = samples[0], samples[-1]
    print(f"enrolled: {runs:,} runs waiting after {seconds:.1f} s ({runs / seconds:,.1f} per second)")
    print(f"waiting runs -> worker RSS, dev server RSS (MiB; the last after {SETTLE_SECONDS:.0f} s idle):")
    for s in samples:
        print(f"  {s.waiting:>7,}  {s.worker_kib / 1024:7.1f}  {s.server_kib / 1024:7.1f}")
    print(f"worker peak (VmHWM): {peak_kib / 1024:.1f} MiB; max_cached_workflows: {cached:,}")
    start = reference(samples, runs=runs, cached=cached)
    growth = server_growth = None
    if start is None:
        print(f"worker growth: not measured ({runs:,} runs do not pass a cache of {cached:,})")
    else:
        growth = final.worker_kib / start.worker_kib - 1
        server_growth = final.server_kib / start.server_kib - 1
        verdict = "met" if growth < FLAT else "MISSED"
        print(
            f"worker growth from {start.waiting:,} to {runs:,} waiting runs: {growth:+.1%} "
            f"(flat, under {FLAT:.0%}: {verdict}); dev server {server_growth:+.1%}"
        )
    since = f"{start.waiting:,}" if start else "half"
    return [
        shown("enrollment until all waiting", runs / seconds, "per s"),
        shown("worker RSS idle", idle.worker_kib / 1024, "MiB"),
        shown(f"worker RSS at {since} waiting", None if start is None else start.worker_kib / 1024, "MiB"),
        shown(f"worker RSS, all {runs:,} waiting", final.worker_kib / 1024, "MiB"),
        under(
            f"worker growth, {since} to {runs:,} waiting",
            None if growth is None else growth * 100,
            FLAT * 100,
            "%",
            ratio_of=f"RSS at {runs:,} / RSS at {since}, less 1",
        ),
        shown("worker peak RSS (VmHWM)", peak_kib / 1024, "MiB"),
        shown("dev server RSS idle", idle.server_kib / 1024, "MiB"),
        shown(f"dev server RSS, all {runs:,} waiting", final.server_kib / 1024, "MiB"),
        shown(
            f"dev server growth, {since} to {runs:,} waiting",
            None if server_growth is None else server_growth * 100,
            "%",
        ),
    ]


async def main(runs: int, step: int, database_url: str | None, keep: bool) -> BenchmarkRun:
    """Set up, enroll, sample, stop every child, report; return the figures."""
    data = Path(tempfile.mkdtemp(prefix="nurture-bench-"))
    url = database_url or f"sqlite:///{data / 'bench.db'}"
    upgrade(url)
    sessions = session_factory(url)
    began = time.perf_counter()
    list_id = await asyncio.to_thread(subscribed_list, sessions, count=runs)
    automation_id = waiting_automation(sessions)
    setup = time.perf_counter() - began
    print(f"setup (not timed): {runs:,} subscribed contacts in {setup:.1f} s; database and logs in {data}")

    run_id = uuid.uuid4().hex[:8]
    group = ProcessGroup()
    env: WorkflowEnvironment | None = None
    try:
        env = await start_dev_server(dynamic_config=list(DEV_SERVER_DYNAMIC_CONFIG))
        settings = Settings(
            env="test",
            data_dir=data,
            database_url=url,
            temporal_address=env.client.service_client.config.target_host,
            task_queue=f"bench-{run_id}",
            email_task_queue=f"bench-email-{run_id}",
        )
        cached = cache_size(env.client, settings)
        worker = start_worker(group, settings, log=data / "worker.log").process.pid
        samples, seconds = await enroll_and_sample(
            env.client,
            settings,
            sessions,
            automation_id=automation_id,
            list_id=list_id,
            runs=runs,
            step=step,
            pids=(worker, dev_server_pid(env)),
        )
        peak_kib = memory_kib(worker)[1]
    finally:
        group.stop(timeout=5)
        if env is not None:
            await env.shutdown()
    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"database: {database}; runs: {runs:,}, each tagged, then waiting 7 days")
    results = report(samples, runs=runs, cached=cached, seconds=seconds, peak_kib=peak_kib)
    if not keep:  # a failed run keeps its files: the errors name its logs
        shutil.rmtree(data)
    return BenchmarkRun(
        "waiting runs",
        f"{database}; {runs:,} automation runs waiting on a 7-day timer; one worker process",
        results,
        notes=[
            f"The worker's sticky cache holds at most {cached:,} runs (`max_cached_workflows`, the SDK's "
            "default: workers/ does not set it). A waiting run needs nothing from the worker until its "
            "timer fires; past the cache size the worker evicts the least recently used run, which is "
            "replayed from its history when it wakes. That bounds the worker's memory, not the number "
            "of waiting runs.",
            "The dev server (in-memory persistence) holds every open run; shown for context.",
            f"RSS in MiB, worker / dev server, by waiting runs: {series(samples)}.",
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--step", type=int, default=1_000, help="read the memory every this many runs")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file and the logs")
    args = parser.parse_args()
    if args.runs < 1 or args.step < 1:
        parser.error("--runs and --step must be at least 1")
    asyncio.run(main(args.runs, args.step, args.database_url, args.keep))
