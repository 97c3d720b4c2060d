"""Fault 5: Postmark answering 429, 500 and 503, slowly, or not at all for a while, during sends.

The faults are queued through the local server's control API (`/__local/faults`): each strikes the
next send request (a single send or a batch of a campaign), in turn, for as long as the storm lasts.
"""

import asyncio
import time
from collections import Counter
from typing import Any

import httpx

from chaos import checks, workloads
from chaos.lab import Lab
from chaos.results import FaultResult, check
from nurture.schemas.email import TemplateKind

NAME = "provider-faults"
NUMBER = 5
TITLE = "Postmark answering 429, 500 and slowly"
MESSAGES = {True: 20, False: 100}
RECIPIENTS = {True: 1_000, False: 5_000}
STORM = {True: 8.0, False: 40.0}
# The provider timeout is the crash test's 3 s. "Slow" is 2 s (under it), and 6 s (over it: the
# worker gives up at 3 s and Postmark takes the email 3 s later, within the reconcile delay, as
# Postmark's search lag is within the real one).
RECONCILE_DELAY = 5.0
ROUND: tuple[dict[str, Any], ...] = (
    {"kind": "429"},
    {"kind": "500"},
    {"kind": "accept_then_500"},
    {"kind": "503"},
    {"kind": "delay", "seconds": 2.0},
    {"kind": "delay", "seconds": 6.0},
    {"kind": "accept_then_hang", "seconds": 5.0},
    {"kind": "403_html"},
)
DEADLINE = 240.0


def _name(fault: dict[str, Any]) -> str:
    return f"{fault['kind']} {fault['seconds']:.0f} s" if "seconds" in fault else str(fault["kind"])


async def storm(
    url: str, seconds: float, *, queued_first: asyncio.Event, sends_started: asyncio.Event
) -> Counter[str]:
    """Keep a round of faults queued until `seconds` after the sends have started, then clear the
    queue; the faults that struck. `queued_first` is set once the first round is queued."""
    queued: Counter[str] = Counter()
    end: float | None = None
    async with httpx.AsyncClient(base_url=f"{url}/__local", timeout=10) as control:
        while end is None or time.monotonic() < end:
            pending = (await control.get("/faults")).json()["faults"]
            if not pending:
                for fault in ROUND:
                    (await control.post("/faults", json=fault)).raise_for_status()
                    queued[_name(fault)] += 1
                queued_first.set()
            if end is None and sends_started.is_set():
                end = time.monotonic() + seconds
            await asyncio.sleep(0.05)
        # Whatever is still queued when the storm ends struck nothing.
        pending = Counter(_name(f) for f in (await control.get("/faults")).json()["faults"])
        (await control.delete("/faults")).raise_for_status()
    return queued - pending


async def run(lab: Lab, result: FaultResult) -> None:
    """One-off sends and a campaign through a storm of provider faults; each email must arrive once."""
    short = lab.short
    messages, recipients, seconds = MESSAGES[short], RECIPIENTS[short], STORM[short]
    lab.settings = lab.settings.model_copy(update={"reconcile_delay": RECONCILE_DELAY})
    sessions = lab.sessions()
    one_offs = await asyncio.to_thread(workloads.audience, sessions, messages)
    receipt = await asyncio.to_thread(
        workloads.template, sessions, workloads.MESSAGE_SUBJECT, kind=TemplateKind.TRANSACTIONAL
    )
    news = await asyncio.to_thread(workloads.audience, sessions, recipients)
    campaign_id = await asyncio.to_thread(workloads.campaign, sessions, news.list_id)
    async with lab.workers():
        # The storm is up before the first send, and lasts from the last one's start.
        queued_first, sends_started = asyncio.Event(), asyncio.Event()
        storming = asyncio.create_task(
            storm(lab.postmark.url, seconds, queued_first=queued_first, sends_started=sends_started)
        )
        await queued_first.wait()
        workflow_ids = await workloads.send_messages(
            lab.client, lab.settings, contacts=one_offs.emails, template_id=receipt, prefix="storm"
        )
        workflow_ids.append((await workloads.start(lab.client, lab.settings, campaign_id)).id)
        sends_started.set()
        lab.note("sends and campaign started in the storm")
        struck = await storming
        lab.note(f"storm over: {struck.total()} faults struck ({checks.held(lab.postmark)} in Postmark)")
        finished = await checks.wait_for(
            lambda: checks.all_completed(lab.client, workflow_ids), timeout=DEADLINE
        )
        lab.note(f"workflows finished: {finished} ({checks.held(lab.postmark)} in Postmark)")
    result.setup = (
        f"{messages} one-off sends and a campaign to {recipients:,} while, for {seconds:.0f} s, every send "
        f"request met one of: {', '.join(_name(f) for f in ROUND)} (provider timeout 3 s, reconcile "
        f"delay {RECONCILE_DELAY:.0f} s)"
    )

    emails = await asyncio.to_thread(checks.arrived, lab.postmark.url)
    expected = {(email, workloads.MESSAGE_SUBJECT) for email in one_offs.emails.values()}
    expected |= {(email, workloads.CAMPAIGN_SUBJECT) for email in news.emails.values()}
    missed = [_name(f) for f in ROUND if not struck[_name(f)]]
    result.checks.append(
        check(
            "every kind of fault struck a send",
            not missed,
            ", ".join(f"{name} x{n}" for name, n in struck.items())
            + (f"; never struck: {missed}" if missed else ""),
        )
    )
    result.checks += checks.exactly_once(emails, expected)
    result.checks += await asyncio.to_thread(checks.ledger_agrees, sessions, emails)
    result.checks.append(await asyncio.to_thread(workloads.campaign_sent, sessions, campaign_id, recipients))
    result.checks.append(await checks.runs_finished(lab.client, workflow_ids, what="workflows"))
