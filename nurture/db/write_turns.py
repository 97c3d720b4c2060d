"""Writers to one SQLite file, across processes, take turns in the order they come.

SQLite's own wait for its write lock is a sleep-and-retry loop (up to 100 ms a sleep): a
process that writes again and again (a campaign's batches) keeps taking the lock while another
sleeps, and that one starves. Waiting on a file lock (flock) instead wakes the waiter the moment
the lock is let go. SQLite's lock remains the guard; this only queues the writers in front of it.
The other threads of a process that holds the turn give way to its writer between emails.
"""

import fcntl
import os
import sqlite3
import threading
from pathlib import Path

from sqlalchemy.exc import OperationalError

# As long as SQLite's own busy_timeout: then the writer gives up, as SQLite would have.
WAIT_SECONDS = 30.0
# A thread gives way at most this long: a turn never given back must not stop it for good.
GIVE_WAY_SECONDS = 1.0


class _Writer:
    """Which thread of this process holds a write turn, for the others to give way to."""

    def __init__(self) -> None:
        self._idle = threading.Event()
        self._idle.set()
        self._thread: int | None = None

    def began(self) -> None:
        self._thread = threading.get_ident()
        self._idle.clear()

    def ended(self) -> None:
        self._thread = None
        self._idle.set()

    def give_way(self) -> None:
        if self._thread != threading.get_ident():
            self._idle.wait(GIVE_WAY_SECONDS)


_WRITER = _Writer()


def give_way_to_writer() -> None:
    """Wait while another thread of this process holds a write turn (called between units of
    long CPU work, such as the emails of a batch).

    Every other writer waits for that turn to end, and Python runs one thread at a time: a
    thread rendering beside the writer would take half its time and keep everyone waiting longer.
    """
    _WRITER.give_way()


class WriteTurns:
    """The turn of one process's writer connection at a SQLite file."""

    def __init__(self, database: Path, *, wait_seconds: float = WAIT_SECONDS) -> None:
        self._path = database.with_name(database.name + "-writers.lock")
        self._wait_seconds = wait_seconds
        self._fd: int | None = None
        self._guard = threading.Lock()  # opening the lock file once per process

    def take(self) -> None:
        """Wait for this process's turn to write (called as a transaction begins).

        Raises:
            OperationalError: another writer held its turn for `wait_seconds`.
        """
        fd = self._file()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _WRITER.began()
            return
        except BlockingIOError:
            pass
        # A blocking flock cannot time out, so a thread waits on it and this one on the thread.
        waiter = _Waiter(fd)
        if not waiter.wait(self._wait_seconds):
            reason = f"database is locked: another writer kept its turn for {self._wait_seconds:.0f} s"
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(reason))
        _WRITER.began()

    def give_back(self) -> None:
        """Let the next writer in (called as a transaction ends, however it ends)."""
        if self._fd is not None:
            _WRITER.ended()
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _file(self) -> int:
        with self._guard:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            return self._fd


class _Waiter:
    """A thread blocked on the lock for a writer that may stop waiting."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._state = threading.Lock()
        self._taken = False
        self._abandoned = False
        self._done = threading.Event()
        threading.Thread(target=self._take, name="sqlite-write-turn", daemon=True).start()

    def wait(self, seconds: float) -> bool:
        """Whether the lock is now this writer's; if not, it will be let go as soon as taken."""
        self._done.wait(seconds)
        with self._state:
            self._abandoned = not self._taken
            return self._taken

    def _take(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        with self._state:
            if self._abandoned:
                fcntl.flock(self._fd, fcntl.LOCK_UN)  # its writer gave up meanwhile
            else:
                self._taken = True
        self._done.set()
