"""Killing the worker mid-send, as the crash test and the fault suite do: the worker in a process of
its own to SIGKILL and restart, and a stack that kills it while Postmark holds emails the ledger
has not recorded, then waits until a new worker has settled them."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from nurture.campaigns.sending import CampaignProgress
from nurture.db.base import utcnow
from nurture.db.models import Message, MessageStatus
from nurture.db.session import session_factory
from nurture.postmark_server import RunningServer
from nurture.schemas.email import METADATA_KEY
from nurture.settings import Settings

# The worker is killed once Postmark holds this share of the audience (and the batches then in
# flight are in too: about 2,500 more).
KILL_AT = (0.15, 0.40, 0.65)
# A short provider timeout makes short leases (2 x (3 + 3) s + 15 s): a dead attempt's keys free
# up soon. Long enough for the test to kill the worker while it waits for the hanging call.
POSTMARK_TIMEOUT = 3.0
# Seconds for the send to reach the next kill, or its end, before the test fails.
DEADLINE = 120.0


class CrashFailed(AssertionError):
    """A kill-and-restart run got stuck; the message tells the timeline, ledger and worker log."""


class WorkerProcess:
    """`python -m nurture worker` in a process of its own, as in production, to kill and restart."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.log = log
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
        self._env.update(
            NURTURE_DATABASE_URL=settings.resolved_database_url,
            NURTURE_DATA_DIR=str(settings.data_dir),
            NURTURE_TEMPORAL_ADDRESS=settings.temporal_address,
            NURTURE_POSTMARK_API_URL=settings.postmark_api_url,
            NURTURE_POSTMARK_SERVER_TOKEN=settings.postmark_server_token,
            NURTURE_POSTMARK_TIMEOUT=str(POSTMARK_TIMEOUT),
            # The local server's search shows a message at once: no need to wait a minute for it.
            NURTURE_RECONCILE_DELAY="1",
            NURTURE_TASK_QUEUE=settings.task_queue,
            NURTURE_EMAIL_TASK_QUEUE=settings.email_task_queue,
        )
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def note(self, line: str) -> None:
        """A line of the test's own in the log, between the worker's."""
        with self.log.open("a") as out:
            out.write(f"--- {line}\n")

    def start(self) -> None:
        self.starts += 1
        self.note(f"worker {self.starts} starts")
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "nurture", "worker"],
                env=self._env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no chance to record what it was doing."""
        assert self._process is not None
        assert self._process.poll() is None, f"the worker had died on its own:\n{self.tail()}"
        os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self.note(f"worker {self.starts} killed")

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Crash:
    """One test's stack: the database, the local Postmark server, the worker process, the run."""

    settings: Settings
    postmark: RunningServer
    worker: WorkerProcess
    handle: WorkflowHandle[Any, CampaignProgress] | None = None
    timeline: list[str] = field(default_factory=list)
    begun: float = field(default_factory=time.monotonic)

    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.settings.resolved_database_url)

    def stored(self) -> int:
        return len(self.postmark.state.store.messages())

    def note(self, what: str) -> None:
        line = f"{time.monotonic() - self.begun:6.1f} s  {what} ({self.stored()} in Postmark)"
        self.timeline.append(line)
        self.worker.note(line)

    async def hold(self, held: bool) -> None:
        """Pause or resume the campaign's new batches; a run that has ended has none to hold."""
        assert self.handle is not None
        try:
            await self.handle.signal("pause" if held else "resume")
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            self.note("the run has ended")

    def sending(self) -> set[str]:
        """Keys the ledger has `sending`: reserved by an attempt and not finished."""
        with self.sessions()() as session:
            query = select(Message.key).where(Message.status == MessageStatus.SENDING)
            return set(session.scalars(query))

    def accepted_unrecorded(self) -> set[str]:
        """Keys Postmark has taken that the ledger still has `sending`: what a kill now leaves behind."""
        taken = (m.email.metadata.get(METADATA_KEY) for m in self.postmark.state.store.messages())
        return self.sending().intersection(taken)

    async def fail(self, why: str) -> NoReturn:
        """Fail with what explains a stuck send: the timeline, the ledger, pending activities, the log."""
        self.note(why)
        with self.sessions()() as session:
            ledger = session.execute(
                select(
                    Message.status, Message.maybe_sent, func.count(), func.max(Message.lease_until)
                ).group_by(Message.status, Message.maybe_sent)
            ).all()
        pending = ""
        if self.handle is not None:
            description = await self.handle.describe()
            pending = "\n".join(
                f"  {a.activity_type.name} attempt {a.attempt}, last started "
                f"{a.last_started_time.ToDatetime():%H:%M:%S}, last failure: {a.last_failure.message[:300]}"
                for a in description.raw_description.pending_activities
            )
        raise CrashFailed(
            f"{why}\ntimeline:\n"
            + "\n".join(self.timeline)
            + f"\nledger at {utcnow():%H:%M:%S} (status, maybe sent, keys, last lease end):\n"
            + "\n".join(f"  {row}" for row in ledger)
            + f"\npending activities:\n{pending}\nworker log:\n{self.worker.tail()}"
        )

    async def wait_for(
        self, what: str, condition: Callable[[], bool], *, timeout: float = DEADLINE, every: float = 0.2
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                await self.fail(f"timed out after {timeout:.0f} s waiting for {what}")
            await asyncio.sleep(every)

    async def wait_for_stored(self, count: int) -> None:
        await self.wait_for(f"{count} emails in Postmark", lambda: self.stored() >= count)

    def reconciling(self) -> bool:
        """Whether a key an attempt left `sending` may be in Postmark: it is being looked up there."""
        with self.sessions()() as session:
            query = select(func.count()).where(
                Message.status == MessageStatus.SENDING, Message.maybe_sent.is_(True)
            )
            return bool(session.scalar(query))

    async def kill_mid_send(self) -> set[str]:
        """Kill the worker while Postmark has emails it took that the ledger has not recorded; those keys.

        Never while keys are being reconciled: a kill then leaves them claimed for the whole
        budget of their lookups (22 minutes for a batch of 500 here), longer than this test waits.
        """
        assert self.handle is not None
        while True:
            await self.wait_for("no reconciliation under way", lambda: not self.reconciling())
            # The next batch call is taken in full and then answers nothing: the worker waits for it.
            self.postmark.add_fault("accept_then_hang", seconds=30)
            await self.wait_for("a batch call to hang", lambda: not self.postmark.state.faults.pending())
            self.note("a batch call hangs")
            await self.wait_for(
                "a batch taken by Postmark and not yet recorded",
                lambda: bool(self.accepted_unrecorded()),
                every=0.05,
            )
            if not self.reconciling():
                break
            # The hanging call timed out first (the server was slow to take it), or another batch is
            # being reconciled: try the next batch, holding new ones until then so the send goes on.
            self.note("not killed: keys are being reconciled")
            await self.hold(True)
            await self.wait_for("no reconciliation under way", lambda: not self.reconciling())
            await self.hold(False)
        self.worker.kill()
        left = self.accepted_unrecorded()
        self.note(f"worker killed with {len(left)} emails taken by Postmark and not recorded")
        return left

    async def restart(self) -> None:
        """Start a new worker and wait until it has settled every key the killed one left `sending`.

        The batches in flight at the kill are retried once Temporal notices the dead worker (the
        heartbeat timeout) and their keys' leases run out: about half a minute. New batches are
        held (`pause`) meanwhile, or a full-speed send would be over before the third kill.
        """
        assert self.handle is not None
        left = self.sending()
        self.worker.start()
        await self.hold(True)
        await self.wait_for(
            f"the {len(left)} keys left sending to be settled", lambda: not left & self.sending()
        )
        self.note(f"the {len(left)} keys left sending are settled")
        await self.hold(False)
