"""Fault 2: the worker SIGKILLed while a campaign sends, with the campaign crash test's pieces."""

import asyncio

from chaos import checks, kills, workloads
from chaos.crash import DEADLINE, KILL_AT, Crash
from chaos.lab import Lab
from chaos.results import FaultResult

NAME = "campaign-kill"
NUMBER = 2
TITLE = "worker SIGKILLed during a campaign"
# The full run is the crash test's: 20,000 recipients, three kills. The short one kills once,
# early enough that batches are still to be handed out (four are in flight at a time).
RECIPIENTS = {True: 4_000, False: 20_000}
KILLS = {True: (0.25,), False: KILL_AT}


async def run(lab: Lab, result: FaultResult) -> None:
    """Send a campaign, kill the worker while Postmark holds a batch it has not answered, restart
    it, and check each recipient got the campaign exactly once."""
    count, kill_at = RECIPIENTS[lab.short], KILLS[lab.short]
    sessions = lab.sessions()
    result.setup = (
        f"a campaign to {count:,} subscribers; the worker process SIGKILLed {len(kill_at)} time(s) while "
        "Postmark held a batch it had not answered, started again, the campaign paused until the "
        "keys left sending were settled"
    )
    worker = lab.worker_process()
    crash = Crash(lab.settings, lab.postmark, worker, timeline=lab.timeline, begun=lab.began)
    try:
        worker.start()  # it starts while the audience is written
        subscribers = await asyncio.to_thread(workloads.audience, sessions, count)
        campaign_id = await asyncio.to_thread(workloads.campaign, sessions, subscribers.list_id)
        await worker.ready()
        crash.handle = await workloads.start(lab.client, lab.settings, campaign_id)
        crash.note("campaign started")
        left_behind = []
        for share in kill_at:
            await crash.wait_for_stored(int(share * count))
            left_behind.append(await crash.kill_mid_send())
            await crash.restart()
        try:
            progress = await asyncio.wait_for(crash.handle.result(), timeout=DEADLINE)
            crash.note(f"campaign {progress.status}: {progress.counts.model_dump()}")
        except TimeoutError:
            crash.note(f"the campaign did not finish within {DEADLINE:.0f} s of the last restart")
    finally:
        worker.stop()

    emails = await asyncio.to_thread(checks.arrived, lab.postmark.url)
    expected = {(email, workloads.CAMPAIGN_SUBJECT) for email in subscribers.emails.values()}
    result.checks += checks.exactly_once(emails, expected)
    result.checks += await asyncio.to_thread(checks.ledger_agrees, sessions, emails)
    result.checks.append(await asyncio.to_thread(workloads.campaign_sent, sessions, campaign_id, count))
    result.checks.append(await checks.runs_finished(lab.client, [crash.handle.id], what="campaign workflows"))
    result.checks.append(
        kills.found_not_resent(left_behind, await asyncio.to_thread(kills.reconciled, sessions))
    )
