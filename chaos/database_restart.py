"""Fault 4: the database taken away under load, and given back.

The full run on PostgreSQL restarts the whole cluster with pg_ctlcluster, which breaks every other
client of that server (another test run's tests): it waits for them to leave first, and cuts only
its own database off if they do not. The short run (CI) never restarts the cluster: it cuts its
own database off (connections refused and ended), as a restart does to it. On SQLite, which has
no server, it holds the write lock past the busy timeout, so writes fail for a while.
"""

import asyncio

from chaos import checks, outages, workloads
from chaos.lab import Lab
from chaos.results import FaultResult
from nurture.schemas.email import TemplateKind

NAME = "database-restart"
NUMBER = 4
TITLE = "database restarted under load"
CONTACTS = {True: 30, False: 200}
MESSAGES = {True: 10, False: 50}
RECIPIENTS = {True: 1_000, False: 5_000}
# Seconds a cut-off PostgreSQL database stays refused; SQLite's lock outlasts the 30-second busy
# timeout, so that writers fail rather than only wait.
PG_DOWN = {True: 4.0, False: 10.0}
SQLITE_DOWN = 35.0
# Strike once Postmark holds this many emails: sends are under way.
STRIKE_AT = 20
DEADLINE = 240.0


async def run(lab: Lab, result: FaultResult) -> None:
    """Automation runs, one-off sends and a campaign while the database goes away; every email
    must arrive once and every workflow finish once it is back."""
    short = lab.short
    count, messages, recipients = CONTACTS[short], MESSAGES[short], RECIPIENTS[short]
    sessions = lab.sessions()
    runs = await asyncio.to_thread(workloads.audience, sessions, count)
    automation_id = await asyncio.to_thread(workloads.two_email_automation, sessions)
    one_offs = await asyncio.to_thread(workloads.audience, sessions, messages)
    receipt = await asyncio.to_thread(
        workloads.template, sessions, workloads.MESSAGE_SUBJECT, kind=TemplateKind.TRANSACTIONAL
    )
    news = await asyncio.to_thread(workloads.audience, sessions, recipients)
    campaign_id = await asyncio.to_thread(workloads.campaign, sessions, news.list_id)
    load = (
        f"{count} contacts in the two-email automation, {messages} one-off sends, "
        f"a campaign to {recipients:,}"
    )
    async with lab.workers():
        workflow_ids = [
            await workloads.enroll_list(
                lab.client, lab.settings, automation_id=automation_id, list_id=runs.list_id
            )
        ]
        workflow_ids += await workloads.send_messages(
            lab.client, lab.settings, contacts=one_offs.emails, template_id=receipt, prefix="outage"
        )
        workflow_ids.append((await workloads.start(lab.client, lab.settings, campaign_id)).id)
        lab.note("runs, sends and campaign started")
        await checks.wait_for(checks.holds(lab.postmark, STRIKE_AT), timeout=DEADLINE, every=0.05)
        outage = await _strike(lab)
        result.setup = f"{load}; {outage}; workers in this process"
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
    expected |= {(email, workloads.CAMPAIGN_SUBJECT) for email in news.emails.values()}
    result.checks += checks.exactly_once(emails, expected)
    result.checks += await asyncio.to_thread(checks.ledger_agrees, sessions, emails)
    rows = await asyncio.to_thread(workloads.run_rows, sessions, automation_id)
    result.checks.append(workloads.runs_completed(rows, count))
    result.checks.append(await asyncio.to_thread(workloads.campaign_sent, sessions, campaign_id, recipients))
    result.checks.append(await checks.runs_finished(lab.client, [*workflow_ids, *rows], what="workflows"))


async def _strike(lab: Lab) -> str:
    """Take the database away and give it back; what was done, in words."""
    databases = lab.databases
    database = databases.database_name(lab.settings.resolved_database_url)
    if databases.backend == "sqlite":
        lab.note(f"{checks.held(lab.postmark)} in Postmark; SQLite write lock held for {SQLITE_DOWN:.0f} s")
        await asyncio.to_thread(outages.hold_sqlite, database, seconds=SQLITE_DOWN)
        lab.note("SQLite write lock released")
        return f"SQLite's write lock held {SQLITE_DOWN:.0f} s (past the 30 s busy timeout) mid-send"
    admin = databases.admin_url()
    command = outages.cluster_command()
    why_not = "the short run never restarts the shared cluster" if lab.short else None
    if why_not is None and command is None:
        why_not = "no local Debian cluster to restart (pg_ctlcluster)"
    if why_not is None:
        others = await outages.wait_until_alone(admin, ours=databases.prefix)
        if others:
            why_not = (
                f"other clients of the server did not leave within {outages.QUIET_WAIT:.0f} s "
                f"({'; '.join(others)})"
            )
    if why_not is None and command is not None:
        lab.note(f"{checks.held(lab.postmark)} in Postmark; {' '.join(command)}")
        seconds = await asyncio.to_thread(outages.restart_cluster, command)
        lab.note(f"PostgreSQL restarted in {seconds:.1f} s ({checks.held(lab.postmark)} in Postmark)")
        return f"the PostgreSQL cluster restarted mid-send (`{' '.join(command)}`, {seconds:.1f} s)"
    down = PG_DOWN[lab.short]
    lab.note(
        f"{checks.held(lab.postmark)} in Postmark; database {database} cut off for {down:.0f} s ({why_not})"
    )
    ended = await asyncio.to_thread(outages.cut_database, admin, database, seconds=down)
    lab.note(f"database back; {ended} connections had been ended ({checks.held(lab.postmark)} in Postmark)")
    return (
        f"its PostgreSQL database cut off {down:.0f} s mid-send (new connections refused, {ended} open "
        f"ones ended), not a cluster restart: {why_not}"
    )
