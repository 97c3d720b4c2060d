"""Fault 3: the Temporal dev server restarted mid-run, its state kept in its database file."""

import asyncio

from chaos import checks, workloads
from chaos.lab import Lab
from chaos.results import FaultResult
from nurture.schemas.email import TemplateKind

NAME = "temporal-restart"
NUMBER = 3
TITLE = "Temporal dev server restarted mid-run"
# The fault restarts its own dev server, not the one the other faults share.
OWN_SERVER = True
CONTACTS = {True: 30, False: 200}
MESSAGES = {True: 10, False: 50}
RECIPIENTS = {True: 0, False: 5_000}
# Each restart: (emails arriving first, per automation contact, since the start or the last
# restart; seconds down; SIGKILL?). A graceful restart first; the full run then crashes it outright.
RESTARTS = {True: ((0.5, 2.0, False),), False: ((0.5, 5.0, False), (0.5, 10.0, True))}
DEADLINE = 240.0


async def run(lab: Lab, result: FaultResult) -> None:
    """Automation runs, one-off sends (and a campaign in the full run) while the dev server goes
    down and comes back; every email must arrive once and every workflow finish."""
    short = lab.short
    count, messages, recipients = CONTACTS[short], MESSAGES[short], RECIPIENTS[short]
    sessions = lab.sessions()
    restarts = RESTARTS[short]
    shown = "; ".join(f"{'SIGKILL' if kill else 'SIGTERM'}, down {down:.0f} s" for _, down, kill in restarts)
    result.setup = (
        f"{count} contacts in the two-email automation, {messages} one-off sends"
        + (f", a campaign to {recipients:,}" if recipients else "")
        + f"; the dev server (--db-filename) restarted {len(restarts)} time(s) mid-run ({shown}); "
        "workers in this process, reconnecting on their own"
    )
    runs = await asyncio.to_thread(workloads.audience, sessions, count)
    automation_id = await asyncio.to_thread(workloads.two_email_automation, sessions)
    one_offs = await asyncio.to_thread(workloads.audience, sessions, messages)
    receipt = await asyncio.to_thread(
        workloads.template, sessions, workloads.MESSAGE_SUBJECT, kind=TemplateKind.TRANSACTIONAL
    )
    news = await asyncio.to_thread(workloads.audience, sessions, recipients) if recipients else None
    campaign_id = await asyncio.to_thread(workloads.campaign, sessions, news.list_id) if news else None
    workflow_ids: list[str] = []
    async with lab.workers():
        workflow_ids.append(
            await workloads.enroll_list(
                lab.client, lab.settings, automation_id=automation_id, list_id=runs.list_id
            )
        )
        workflow_ids += await workloads.send_messages(
            lab.client, lab.settings, contacts=one_offs.emails, template_id=receipt, prefix="restart"
        )
        if campaign_id is not None:
            workflow_ids.append((await workloads.start(lab.client, lab.settings, campaign_id)).id)
        lab.note("runs, sends and campaign started")
        for share, down, kill in restarts:
            since = checks.held(lab.postmark)
            await checks.wait_for(
                checks.holds(lab.postmark, since + share * count), timeout=DEADLINE, every=0.05
            )
            how = "SIGKILL" if kill else "SIGTERM"
            lab.note(f"{checks.held(lab.postmark)} in Postmark; stopping the dev server ({how})")
            await lab.server.restart(down_for=down, kill=kill)
            lab.note(f"dev server up again ({checks.held(lab.postmark)} in Postmark)")
        ended = await checks.wait_for(
            lambda: workloads.runs_ended(sessions, automation_id, count), timeout=DEADLINE
        )
        finished = await checks.wait_for(
            lambda: checks.all_completed(lab.client, workflow_ids), timeout=DEADLINE
        )
        held = checks.held(lab.postmark)
        lab.note(f"runs ended: {ended}; other workflows finished: {finished} ({held} in Postmark)")

    emails = await asyncio.to_thread(checks.arrived, lab.postmark.url)
    expected = workloads.both_steps(runs.emails.values())
    expected |= {(email, workloads.MESSAGE_SUBJECT) for email in one_offs.emails.values()}
    if news is not None:
        expected |= {(email, workloads.CAMPAIGN_SUBJECT) for email in news.emails.values()}
    result.checks += checks.exactly_once(emails, expected)
    result.checks += await asyncio.to_thread(checks.ledger_agrees, sessions, emails)
    rows = await asyncio.to_thread(workloads.run_rows, sessions, automation_id)
    result.checks.append(workloads.runs_completed(rows, count))
    if campaign_id is not None:
        result.checks.append(
            await asyncio.to_thread(workloads.campaign_sent, sessions, campaign_id, recipients)
        )
    result.checks.append(await checks.runs_finished(lab.client, [*workflow_ids, *rows], what="workflows"))
