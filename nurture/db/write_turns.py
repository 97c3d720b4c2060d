"""Writers to one SQLite file, across processes, take turns in the order they come.

SQLite's own wait for its write lock is a sleep-and-retry loop (up to 100 ms a sleep): a
process that writes again and again (a campaign's batches) keeps taking the lock while another
sleeps, and that one starves. Waiting on a file lock (flock) instead wakes the waiter the moment
the lock is let go. SQLite's lock remains the guard; this only queues the writers in front of it.
"""

import fcntl
import os
import threading
from pathlib import Path


class WriteTurns:
    """The turn of one process's writer connection at a SQLite file."""

    def __init__(self, database: Path) -> None:
        self._path = database.with_name(database.name + "-writers.lock")
        self._fd: int | None = None
        self._guard = threading.Lock()  # opening the lock file once per process

    def take(self) -> None:
        """Wait for this process's turn to write (called as a transaction begins)."""
        fcntl.flock(self._file(), fcntl.LOCK_EX)

    def give_back(self) -> None:
        """Let the next writer in (called as a transaction ends, however it ends)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _file(self) -> int:
        with self._guard:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            return self._fd
