"""SQLite writers in different processes take turns: the next waits on the lock file, not in a
sleep-and-retry loop, and gets in as soon as the writer before it lets go."""

import multiprocessing
import time
from pathlib import Path

from nurture.db.write_turns import WriteTurns


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
