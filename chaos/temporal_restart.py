"""Fault 3: the Temporal dev server restarted mid-run, its state kept in its database file."""

from chaos import checks
from chaos.lab import Lab
from chaos.mixed_load import MixedLoad
from chaos.results import FaultResult

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
    load = await MixedLoad.prepare(
        lab, count=CONTACTS[short], messages=MESSAGES[short], recipients=RECIPIENTS[short]
    )
    restarts = RESTARTS[short]
    shown = "; ".join(f"{'SIGKILL' if kill else 'SIGTERM'}, down {down:.0f} s" for _, down, kill in restarts)
    result.setup = (
        f"{load.described()}; the dev server (--db-filename) restarted {len(restarts)} time(s) mid-run "
        f"({shown}); workers in this process, reconnecting on their own"
    )
    async with lab.workers():
        await load.start(lab, prefix="restart")
        for share, down, kill in restarts:
            since = checks.held(lab.postmark)
            await checks.wait_for(
                checks.holds(lab.postmark, since + share * load.count), timeout=DEADLINE, every=0.05
            )
            how = "SIGKILL" if kill else "SIGTERM"
            lab.note(f"{checks.held(lab.postmark)} in Postmark; stopping the dev server ({how})")
            await lab.server.restart(down_for=down, kill=kill)
            lab.note(f"dev server up again ({checks.held(lab.postmark)} in Postmark)")
        await load.settle(lab, deadline=DEADLINE)
    await load.check(lab, result)
