"""SIGKILL a worker at the worst moment, between Postmark taking an email and the ledger recording it,
with the campaign crash test's pieces; and check that what it left behind was found, not resent."""

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from chaos.crash import Crash
from chaos.results import Check, check
from nurture.db.models import ActivityEvent

# How long a send the worker is killed in hangs once Postmark has taken it: longer than the kill.
HANG = 30.0


async def kill_mid_send(crash: Crash) -> set[str]:
    """Make the next send hang after Postmark takes it, SIGKILL the worker while Postmark holds
    emails the ledger has not recorded, and return their keys.

    The crash test's `kill_mid_send` does this for a campaign's batches, pausing the campaign
    while keys are reconciled; single sends (automation steps, one-off messages) need no pause.
    """
    crash.postmark.add_fault("accept_then_hang", seconds=HANG)
    await crash.wait_for("a send to hang", lambda: not crash.postmark.state.faults.pending())
    await crash.wait_for(
        "an email taken by Postmark and not yet recorded",
        lambda: bool(crash.accepted_unrecorded()),
        every=0.05,
    )
    crash.worker.kill()
    left = crash.accepted_unrecorded()
    crash.note(f"worker killed with {len(left)} emails taken by Postmark and not recorded")
    return left


def reconciled(sessions: sessionmaker[Session]) -> set[str]:
    """Keys recorded sent because a later attempt found them in Postmark (not sent again)."""
    with sessions() as session:
        rows = session.scalars(select(ActivityEvent.data).where(ActivityEvent.type == "email.sent"))
        return {data["message_key"] for data in rows if data.get("reconciled")}


def found_not_resent(left_behind: list[set[str]], found: set[str]) -> Check:
    """Each kill left emails Postmark had taken and the ledger had not recorded, and every one of
    them was found in Postmark afterwards instead of being sent again."""
    every = set().union(*left_behind) if left_behind else set()
    missing = every - found
    per_kill = ", ".join(f"kill {n}: {len(keys)}" for n, keys in enumerate(left_behind, start=1))
    return check(
        "kills struck mid-send; what Postmark took was found, not resent",
        bool(left_behind) and all(left_behind) and not missing,
        f"emails taken but not recorded at each kill: {per_kill}; {len(every) - len(missing)} of "
        f"{len(every)} found in Postmark by a later attempt",
    )
