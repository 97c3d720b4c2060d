"""A Temporal dev server whose state lives in a file, on a fixed port: stopped and started again at will."""

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.processes import STARTUP_TIMEOUT, free_port
from nurture.temporal import search_attributes
from nurture.temporal.binaries import dev_server_flags, temporal_cli
from workers.processes import Child, ProcessGroup


class DevServer:
    """`temporal server start-dev --db-filename ...` with Nurture's search attributes and namespaces.

    Started as the dev runner starts it (workers/dev.py), in a process group of its own; a restart
    keeps the port and the database file, so workflows, timers and task queues survive it.
    """

    def __init__(self, group: ProcessGroup, *, folder: Path, namespaces: list[str]) -> None:
        self._group = group
        self.port = free_port()
        self.db_file = folder / "temporal.db"
        self.log = folder / "temporal.log"
        self._namespaces = namespaces
        self._child: Child | None = None
        self.starts = 0

    @property
    def address(self) -> str:
        """host:port of the frontend."""
        return f"127.0.0.1:{self.port}"

    def _argv(self) -> list[str]:
        namespaces = [flag for name in self._namespaces for flag in ("--namespace", name)]
        return [
            str(temporal_cli()),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db_file),
            "--log-level",
            "warn",
            *namespaces,
            *search_attributes.cli_flags(),
            *dev_server_flags(),
        ]

    async def start(self) -> None:
        """Start the server and return once its frontend answers a health check."""
        self.starts += 1
        with self.log.open("a") as out:
            out.write(f"--- start {self.starts}\n")
        self._child = self._group.start(
            "Temporal dev server", self._argv(), env=dict(os.environ), log=self.log
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._child.process.poll() is not None:
                raise RuntimeError(
                    f"the Temporal dev server exited with {self._child.process.returncode}; see {self.log}"
                )
            try:
                client = await Client.connect(self.address, data_converter=pydantic_data_converter)
                if await client.service_client.check_health():
                    return
            except RuntimeError:  # not listening yet
                pass
            await asyncio.sleep(0.3)
        raise RuntimeError(
            f"the Temporal dev server did not come up within {STARTUP_TIMEOUT:.0f} s; see {self.log}"
        )

    async def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM (a restart) or SIGKILL (a crash); returns once it has exited."""
        child = self._child
        if child is None or child.process.poll() is not None:
            return
        os.killpg(child.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            await asyncio.to_thread(child.process.wait, 30)
        except subprocess.TimeoutExpired:
            os.killpg(child.process.pid, signal.SIGKILL)
            await asyncio.to_thread(child.process.wait)
        self._group.children.remove(child)
        self._child = None

    async def restart(self, *, down_for: float, kill: bool = False) -> None:
        """Stop the server, leave it down `down_for` seconds, and start it again on the same file."""
        await self.stop(kill=kill)
        await asyncio.sleep(down_for)
        await self.start()
