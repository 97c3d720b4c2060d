"""SQLite writers in different processes take turns: the next waits on the lock file, not in a
sleep-and-retry loop, and gets in as soon as the writer before it lets go; one kept waiting as
long as SQLite's busy timeout gives up."""

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from nurture.db.write_turns import WriteTurns, give_way_to_writer


def _write_after_turn(database: str, said: "multiprocessing.Queue[str | float]") -> None:
    turns = WriteTurns(Path(database))
    said.put("waiting")
    turns.take()
    said.put(time.monotonic())
    turns.give_back()


def test_the_next_process_writes_as_soon_as_the_first_gives_its_turn_back(tmp_path: Path) -> None:
    database = tmp_path / "nurture.db"
    first = WriteTurns(database)
    first.take()
    spawn = multiprocessing.get_context("spawn")
    said: multiprocessing.Queue[str | float] = spawn.Queue()
    other = spawn.Process(target=_write_after_turn, args=(str(database), said))
    other.start()
    try:
        assert said.get(timeout=30) == "waiting"
        time.sleep(0.5)
        assert said.empty()  # still waiting for its turn
        given_back = time.monotonic()
        first.give_back()
        took = said.get(timeout=10)
        assert isinstance(took, float) and took - given_back < 0.5
    finally:
        other.join(10)
    assert other.exitcode == 0
    assert (tmp_path / "nurture.db-writers.lock").exists()


def test_a_process_that_dies_in_its_turn_hands_it_on(tmp_path: Path) -> None:
    database = tmp_path / "nurture.db"
    spawn = multiprocessing.get_context("spawn")
    dying = spawn.Process(target=_take_and_die, args=(str(database),))
    dying.start()
    dying.join(10)
    assert dying.exitcode == 3
    turns = WriteTurns(database)
    turns.take()  # the kernel let go of the dead process's lock: no wait
    turns.give_back()


def _take_and_die(database: str) -> None:
    import os

    WriteTurns(Path(database)).take()
    os._exit(3)


def _hold_turn(database: str, said: "multiprocessing.Queue[str]", release: "multiprocessing.Event") -> None:
    turns = WriteTurns(Path(database))
    turns.take()
    said.put("holding")
    release.wait(30)
    turns.give_back()


def test_a_writer_kept_waiting_too_long_gives_up_as_sqlite_would_and_leaves_no_turn_taken(
    tmp_path: Path,
) -> None:
    database = tmp_path / "nurture.db"
    spawn = multiprocessing.get_context("spawn")
    said: multiprocessing.Queue[str] = spawn.Queue()
    release = spawn.Event()
    holder = spawn.Process(target=_hold_turn, args=(str(database), said, release))
    holder.start()
    try:
        assert said.get(timeout=30) == "holding"
        impatient = WriteTurns(database, wait_seconds=0.3)
        with pytest.raises(OperationalError, match="database is locked"):
            impatient.take()
    finally:
        release.set()
        holder.join(10)
    # The waiter that was given up on took the lock when the holder let go, and let it go too.
    time.sleep(0.2)
    other = WriteTurns(database, wait_seconds=2)
    other.take()
    other.give_back()


def test_other_threads_of_the_writing_process_give_way_until_its_turn_ends(tmp_path: Path) -> None:
    turns = WriteTurns(tmp_path / "nurture.db")
    turns.take()
    give_way_to_writer()  # the writer itself never waits on its own turn
    gave_way = threading.Event()

    def render() -> None:
        give_way_to_writer()
        gave_way.set()

    renderer = threading.Thread(target=render)
    renderer.start()
    assert not gave_way.wait(0.3)  # waiting for the writer
    turns.give_back()
    assert gave_way.wait(5)
    renderer.join(5)
    started = time.monotonic()
    give_way_to_writer()  # nobody writes: no wait (a wrong wait would last for ever)
    assert time.monotonic() - started < 5
