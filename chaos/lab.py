"""The chaos run's stage: a shared Temporal dev server, and for each fault a lab of its own.

A lab is one fault's world: a database copied from a migrated template, a local Postmark server,
a Temporal namespace and task queues, and its workers (processes to kill, or in this process).
Faults never share any of it, so they can run at the same time and a failure is one fault's.
"""

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

from chaos.crash import POSTMARK_TIMEOUT
from chaos.databases import Databases
from chaos.temporal_server import DevServer
from chaos.worker import WorkerProcessIn
from nurture.db.session import session_factory
from nurture.postmark_server import RunningServer, run_in_thread
from nurture.settings import Settings
from nurture.temporal.client import connect
from tests.isolated import isolated
from workers.processes import ProcessGroup
from workers.registration import WorkerDeps, running_workers

# As the crash test's worker processes have it: a key Postmark may hold is looked up a second later.
RECONCILE_DELAY = 1.0


def quiet_runtime() -> Runtime:
    """A Temporal runtime whose core logs (retries while a server is down) go to Python logging,
    which the runner writes to its log file, instead of to the terminal."""
    forward = LogForwardingConfig(logger=logging.getLogger("chaos.temporal"))
    levels = TelemetryFilter(core_level="WARN", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=levels, forwarding=forward)))


def namespace_of(fault: str) -> str:
    """The Temporal namespace of a fault's lab."""
    return f"chaos-{fault}"


@dataclass
class Lab:
    """One fault's world, and its timeline: what was done to it, when."""

    name: str
    short: bool
    folder: Path
    settings: Settings
    postmark: RunningServer
    client: Client
    server: DevServer
    databases: Databases
    began: float = field(default_factory=time.monotonic)
    timeline: list[str] = field(default_factory=list)

    def sessions(self) -> sessionmaker[Session]:
        """Sessions on the lab's database."""
        return session_factory(self.settings.resolved_database_url)

    def note(self, what: str) -> None:
        """Add a line to the timeline, at the seconds since the lab opened."""
        self.timeline.append(f"{time.monotonic() - self.began:6.1f} s  {what}")

    def worker_process(self) -> WorkerProcessIn:
        """A worker process (not started) on the lab's queues; its log is in the lab's folder."""
        return WorkerProcessIn(self.settings, self.folder / "worker.log")

    def workers(self) -> AbstractAsyncContextManager[Any]:
        """The worker's two workers in this process, on the lab's queues, while the block runs."""
        return running_workers(self.client, WorkerDeps(settings=self.settings))


class Stage:
    """A run's folder, its databases and the Temporal dev server its labs share (one namespace each)."""

    def __init__(self, *, short: bool, databases: Databases, folder: Path, faults: list[str]) -> None:
        self.short = short
        self.databases = databases
        self.folder = folder
        self.group = ProcessGroup()
        self.runtime = quiet_runtime()
        self.server = DevServer(self.group, folder=folder, namespaces=[namespace_of(f) for f in faults])

    async def __aenter__(self) -> "Stage":
        try:
            await self.server.start()
        except BaseException:
            self.group.stop(timeout=10)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.group.stop(timeout=10)
        self.databases.drop_all()

    @asynccontextmanager
    async def lab(self, fault: str, *, own_server: bool = False) -> AsyncIterator[Lab]:
        """A fault's lab; with `own_server`, on a dev server of its own (one the fault may restart)."""
        folder = self.folder / fault
        folder.mkdir(parents=True, exist_ok=True)
        server = self.server
        if own_server:
            server = DevServer(self.group, folder=folder, namespaces=[namespace_of(fault)])
            await server.start()
        postmark = run_in_thread(server_token=secrets.token_hex(16))
        try:
            # Copying the template blocks: off the event loop, where other labs' workers may run.
            database_url = await asyncio.to_thread(self.databases.new, fault.replace("-", "_"))
            base = Settings(
                env="test",
                data_dir=folder,
                database_url=database_url,
                temporal_address=server.address,
                temporal_namespace=namespace_of(fault),
            )
            settings = isolated(
                base, postmark, postmark_timeout=POSTMARK_TIMEOUT, reconcile_delay=RECONCILE_DELAY
            )
            client = await connect(settings, runtime=self.runtime)
            yield Lab(fault, self.short, folder, settings, postmark, client, server, self.databases)
        finally:
            postmark.stop()
            if own_server:
                await server.stop()
