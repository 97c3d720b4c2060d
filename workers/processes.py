"""Child processes started together and stopped together, for the dev runner."""

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Linux only: if the runner is killed outright, its children are told to stop too.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """A named child process."""

    name: str
    process: subprocess.Popen[bytes]


class ProcessGroup:
    """Starts children in their own sessions (so Ctrl-C reaches only the runner) and stops them in reverse."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], *, env: dict[str, str], log: Path | None = None) -> Child:
        """Start a child; its output goes to `log` if given, else to this terminal."""
        output: IO[bytes] | None = log.open("ab") if log else None
        process = subprocess.Popen(
            list(argv),
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        if output:
            output.close()
        child = Child(name, process)
        self.children.append(child)
        return child

    def exited(self) -> Child | None:
        """The first child that has exited, if any."""
        return next((c for c in self.children if c.process.poll() is not None), None)

    def stop(self, *, timeout: float = 15) -> None:
        """SIGTERM each child, newest first, and SIGKILL any still running after `timeout`."""
        for child in reversed(self.children):
            if child.process.poll() is None:
                os.killpg(child.process.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while child.process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if child.process.poll() is None:
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
        self.children.clear()
