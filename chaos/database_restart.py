"""Fault 4: the database taken away under load, and given back.

The full run on PostgreSQL restarts the whole cluster with pg_ctlcluster, which breaks every other
client of that server (another test run's tests): it waits for them to leave first, and cuts only
its own database off if they do not. The short run (CI) never restarts the cluster: it cuts its
own database off (connections refused and ended), as a restart does to it. On SQLite, which has
no server, it holds the write lock past the busy timeout, so writes fail for a while.
"""

import asyncio

from chaos import checks, outages
from chaos.lab import Lab
from chaos.mixed_load import MixedLoad
from chaos.results import FaultResult

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
    load = await MixedLoad.prepare(
        lab, count=CONTACTS[short], messages=MESSAGES[short], recipients=RECIPIENTS[short]
    )
    async with lab.workers():
        await load.start(lab, prefix="outage")
        await checks.wait_for(checks.holds(lab.postmark, STRIKE_AT), timeout=DEADLINE, every=0.05)
        outage = await _strike(lab)
        result.setup = f"{load.described()}; {outage}; workers in this process"
        await load.settle(lab, deadline=DEADLINE)
    await load.check(lab, result)


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
