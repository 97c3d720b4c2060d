"""Automation benchmarks on the real dev server: enrollment throughput against a bare workflow,
and how fast a signal moves a waiting run to its next step.

    .venv/bin/python -m bench.automations [--contacts 2000] [--latency-runs 200] [--database-url URL]

Enrollment: 2,000 contacts of a list enrolled as a user does it (a bulk enrollment, as
`POST /automations/{id}/enrollments` with `subscribed_to` starts it) into an automation whose
first steps are one activity step (a tag) and a long wait, timed until every run is waiting;
against it, a bare workflow doing one activity and one wait, started 2,000 times on the same
server in the same run. The server slows as open workflows pile up, so each side runs in two
halves, in the order bare, automation, automation, bare: neither gains from going first.
Target: the automation reaches at least 0.7 of the bare rate.

Latency: runs wait for a custom event; the event is recorded and signalled, and the time until
the run's next step (a tag) is written is measured. Target: p99 under 500 ms.
"""

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare_workflow import BenchBareWorkflow
from bench.processes import start_dev_server
from bench.results import BenchmarkRun, at_least, shown, under
from nurture.automations.bulk import Audience, EnrollmentProgress
from nurture.automations.control import start_enrollment
from nurture.automations.enroll import enroll
from nurture.automations.runs import ContactEventSignal
from nurture.db.migrate import upgrade
from nurture.db.models import (
    ActivityEvent,
    Automation,
    AutomationRun,
    AutomationStatus,
    AutomationVersion,
    Contact,
    ContactEvent,
    ListSubscription,
    MailingList,
    SubscriptionStatus,
)
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings
from workers.bytecode import cache_workflow_bytecode
from workers.registration import WorkerDeps, running_workers

CONCURRENCY = 50
TARGET_RATIO = 0.7
TARGET_P99_MS = 500.0


def _automation(sessions, steps: list[dict]) -> int:  # type: ignore[no-untyped-def]
    with transaction(sessions) as session:
        automation = Automation(name=f"bench {uuid.uuid4().hex[:8]}", status=AutomationStatus.ACTIVE)
        session.add(automation)
        session.flush()
        session.add(
            AutomationVersion(
                automation_id=automation.id,
                number=1,
                definition={"triggers": [{"type": "manual"}], "steps": steps},
            )
        )
        return automation.id


def _contacts(sessions, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    with transaction(sessions) as session:
        run = uuid.uuid4().hex[:8]
        rows = [Contact(email=f"bench-{run}-{i}@example.com") for i in range(count)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


async def _gather_limited(coroutines, limit: int = CONCURRENCY) -> list:  # type: ignore[no-untyped-def]
    gate = asyncio.Semaphore(limit)

    async def one(coroutine):  # type: ignore[no-untyped-def]
        async with gate:
            return await coroutine

    return await asyncio.gather(*(one(c) for c in coroutines))


async def bare_seconds(client: Client, count: int) -> float:
    """Seconds to start `count` bare workflows until every one has done its activity."""
    queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
    done = 0
    all_done = asyncio.Event()

    @activity.defn(name="bench_touch")
    async def touch(n: int) -> int:
        nonlocal done
        done += 1
        if done == count:
            all_done.set()
        return n

    # The same footing as the automation worker, which caches its workflows' bytecode at start.
    cache_workflow_bytecode([BenchBareWorkflow])
    async with Worker(client, task_queue=queue, workflows=[BenchBareWorkflow], activities=[touch]):
        started = time.perf_counter()
        await _gather_limited(
            client.start_workflow(BenchBareWorkflow.run, i, id=f"bench-bare-{queue}-{i}", task_queue=queue)
            for i in range(count)
        )
        await asyncio.wait_for(all_done.wait(), timeout=600)
        return time.perf_counter() - started


async def automation_seconds(client: Client, settings: Settings, count: int) -> float:
    """Seconds to enroll a list of `count` contacts until every run is waiting."""
    sessions = session_factory(settings.resolved_database_url)
    automation_id = _automation(
        sessions,
        [
            {"id": "touch", "type": "tag", "add": ["bench"]},
            {"id": "wait", "type": "wait", "duration": "1d"},
        ],
    )
    list_id = _subscribed_list(sessions, _contacts(sessions, count))
    started = time.perf_counter()
    enrollment = await start_enrollment(
        client, settings, automation_id=automation_id, audience=Audience(subscribed_to=list_id)
    )
    while await asyncio.to_thread(_waiting, sessions, automation_id) < count:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    progress = await client.get_workflow_handle(enrollment, result_type=EnrollmentProgress).result()
    assert progress.started == count, progress
    return elapsed


async def enrollment_rates(client: Client, settings: Settings, count: int) -> tuple[float, float]:
    """Bare and automation rates per second, each over `count`, in halves: bare, auto, auto, bare."""
    first, second = count // 2, count - count // 2
    bare = await bare_seconds(client, first)
    automations = await automation_seconds(client, settings, first)
    automations += await automation_seconds(client, settings, second)
    bare += await bare_seconds(client, second)
    return count / bare, count / automations


async def signal_latency(client: Client, settings: Settings, runs: int) -> list[float]:
    """Milliseconds from an event's signal to the run's next step being written, per run."""
    sessions = session_factory(settings.resolved_database_url)
    tag = f"moved-{uuid.uuid4().hex[:6]}"
    automation_id = _automation(
        sessions,
        [
            {
                "id": "wait",
                "type": "wait_for",
                "condition": {"type": "event", "name": "go"},
                "timeout": "1d",
                "on_timeout": "end",
            },
            {"id": "moved", "type": "tag", "add": [tag]},
            {"id": "end", "type": "end"},
        ],
    )
    contacts = _contacts(sessions, runs)
    enrolled = await _gather_limited(
        enroll(client, sessions, settings, automation_id=automation_id, contact_id=c) for c in contacts
    )
    while await asyncio.to_thread(_waiting, sessions, automation_id) < runs:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)  # every run is inside its wait, not just entering it
    sent: dict[int, datetime] = {}
    for contact_id, enrollment in zip(contacts, enrolled, strict=True):
        now = datetime.now(UTC)
        # Off the event loop: the worker under test polls on this loop too.
        await asyncio.to_thread(_record_event, sessions, contact_id, now)
        sent[contact_id] = datetime.now(UTC)
        await client.get_workflow_handle(enrollment.workflow_id).signal(
            "contact_event", ContactEventSignal(name="go", occurred_at=now)
        )
        await asyncio.sleep(0.02)  # one at a time: latency, not a burst
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = await asyncio.to_thread(_tagged, sessions, contacts)
        if len(rows) == runs:
            return [(at - sent[c]).total_seconds() * 1000 for c, at in rows]
        await asyncio.sleep(0.2)
    raise TimeoutError(f"only {len(rows)} of {runs} runs moved on")


def _subscribed_list(sessions, contact_ids: list[int]) -> int:  # type: ignore[no-untyped-def]
    with transaction(sessions) as session:
        mailing_list = MailingList(name=f"bench {uuid.uuid4().hex[:8]}")
        session.add(mailing_list)
        session.flush()
        session.add_all(
            ListSubscription(list_id=mailing_list.id, contact_id=c, status=SubscriptionStatus.SUBSCRIBED)
            for c in contact_ids
        )
        return mailing_list.id


def _waiting(sessions, automation_id: int) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    AutomationRun.automation_id == automation_id, AutomationRun.current_step == "wait"
                )
            )
            or 0
        )


def _record_event(sessions, contact_id: int, now: datetime) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as session:
        session.add(ContactEvent(contact_id=contact_id, name="go", properties={}, occurred_at=now))


def _tagged(sessions, contacts: list[int]) -> list:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(
            session.execute(
                select(ActivityEvent.contact_id, ActivityEvent.occurred_at).where(
                    ActivityEvent.type == "tag.added", ActivityEvent.contact_id.in_(contacts)
                )
            ).all()
        )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def main(contacts: int, latency_runs: int, database_url: str | None) -> BenchmarkRun:
    """Run both measures on a fresh dev server, print them, and return them with their targets."""
    data = Path(tempfile.mkdtemp(prefix="nurture-bench-"))
    url = database_url or f"sqlite:///{data / 'bench.db'}"
    upgrade(url)
    env = await start_dev_server()
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        env="test",
        data_dir=data,
        database_url=url,
        temporal_address=env.client.service_client.config.target_host,
        task_queue=f"bench-{run}",
        email_task_queue=f"bench-email-{run}",
    )
    try:
        async with running_workers(env.client, WorkerDeps(settings=settings)):
            bare, automations = await enrollment_rates(env.client, settings, contacts)
            latencies = await signal_latency(env.client, settings, latency_runs)
    finally:
        await env.shutdown()
    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"database: {database}; contacts: {contacts}; signal runs: {latency_runs}")
    print(f"bare workflow (1 activity + wait): {bare:8.1f} per second")
    print(
        f"automation enrollment:             {automations:8.1f} per second"
        f"  ({automations / bare:.2f} of bare)"
    )
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    print(f"signal to next step: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(latencies):.0f} ms")
    return BenchmarkRun(
        "automations",
        f"{database}; {contacts:,} contacts enrolled against {contacts:,} bare workflows; "
        f"{latency_runs:,} runs signalled",
        [
            shown("bare workflow, one activity and one wait", bare, "per s"),
            shown("automation enrollment", automations, "per s"),
            at_least(
                "enrollment, share of bare",
                automations / bare,
                TARGET_RATIO,
                ratio_of="automation enrollment / bare workflow",
            ),
            shown("signal to next step, p50", p50, "ms"),
            under("signal to next step, p99", p99, TARGET_P99_MS, "ms"),
        ],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    asyncio.run(main(args.contacts, args.latency_runs, args.database_url))
