"""The worker as a process of its own, to SIGKILL and start again: the crash test's, in a namespace."""

import asyncio
import time
from pathlib import Path

from bench.processes import STARTUP_TIMEOUT
from chaos.crash import WorkerProcess
from nurture.settings import Settings


class WorkerProcessIn(WorkerProcess):
    """`python -m nurture worker` with the crash test's short provider timeout and reconcile delay,
    polling the settings' Temporal namespace too (each fault has one of its own)."""

    def __init__(self, settings: Settings, log: Path) -> None:
        super().__init__(settings, log)
        self._env["NURTURE_TEMPORAL_NAMESPACE"] = settings.temporal_namespace

    def running(self) -> bool:
        """Whether the current process is alive."""
        return self._process is not None and self._process.poll() is None

    async def ready(self) -> None:
        """Return once the process started last polls its task queues (it logs so)."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while self.log.read_text(errors="replace").count("Worker polling") < self.starts:
            if not self.running():
                raise RuntimeError(f"the worker exited at start:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not poll within {STARTUP_TIMEOUT:.0f} s:\n{self.tail()}")
            await asyncio.sleep(0.2)

    async def start_ready(self) -> None:
        """Start a process and wait until it polls."""
        self.start()
        await self.ready()
