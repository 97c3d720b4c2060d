"""Fault 1: the worker SIGKILLed while automation runs send their two emails, and started again."""

import asyncio

from chaos import checks, kills, workloads
from chaos.crash import Crash
from chaos.lab import Lab
from chaos.results import FaultResult

NAME = "automation-kill"
NUMBER = 1
TITLE = "worker SIGKILLed during automation runs"
CONTACTS = {True: 30, False: 200}
# Kill when Postmark holds this many emails per contact (of the two each gets): during the first
# sends, and in the full run during the second ones too.
KILLS = {True: (0.5,), False: (0.5, 1.5)}
# Seconds for the runs to end after the last restart: a killed send is retried after its
# 30-second timeout, then waits for its lease.
DEADLINE = 180.0


async def run(lab: Lab, result: FaultResult) -> None:
    """Enroll a list, kill the worker mid-send (twice in the full run), and check every contact
    got exactly its two emails and every run finished."""
    count, kill_at = CONTACTS[lab.short], KILLS[lab.short]
    sessions = lab.sessions()
    result.setup = (
        f"{count} contacts enrolled (bulk) in an automation: send_email, wait 1s, send_email; the "
        f"worker process SIGKILLed {len(kill_at)} time(s) while Postmark held a send it had not "
        "answered, and started again at once"
    )
    worker = lab.worker_process()
    crash = Crash(lab.settings, lab.postmark, worker, timeline=lab.timeline, begun=lab.began)
    try:
        worker.start()  # it starts while the contacts are written
        subscribers = await asyncio.to_thread(workloads.audience, sessions, count)
        automation_id = await asyncio.to_thread(workloads.two_email_automation, sessions)
        await worker.ready()
        enrollment = await workloads.enroll_list(
            lab.client, lab.settings, automation_id=automation_id, list_id=subscribers.list_id
        )
        crash.note("list enrolled")
        left_behind = []
        for share in kill_at:
            await crash.wait_for_stored(int(share * count))
            left_behind.append(await kills.kill_mid_send(crash))
            await worker.start_ready()
            crash.note("worker started again")
        ended = await checks.wait_for(
            lambda: workloads.runs_ended(sessions, automation_id, count), timeout=DEADLINE
        )
        crash.note("every run ended" if ended else f"runs still going after {DEADLINE:.0f} s")
    finally:
        worker.stop()

    emails = await asyncio.to_thread(checks.arrived, lab.postmark.url)
    result.checks += checks.exactly_once(emails, workloads.both_steps(subscribers.emails.values()))
    result.checks += await asyncio.to_thread(checks.ledger_agrees, sessions, emails)
    rows = await asyncio.to_thread(workloads.run_rows, sessions, automation_id)
    result.checks.append(workloads.runs_completed(rows, count))
    result.checks.append(await checks.runs_finished(lab.client, [enrollment, *rows], what="workflows"))
    result.checks.append(
        kills.found_not_resent(left_behind, await asyncio.to_thread(kills.reconciled, sessions))
    )
