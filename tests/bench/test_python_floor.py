"""The Python floor benchmark: each step is timed, and every email is written and marked sent."""

import sqlite3
from pathlib import Path

from bench.python_floor import STEPS, measure


def test_each_step_is_timed_for_every_email(tmp_path: Path) -> None:
    figures = measure(emails=600, data=tmp_path)

    assert list(figures) == list(STEPS) and all(us > 0 for us in figures.values())
    database = sqlite3.connect(tmp_path / "floor.db")
    statuses = database.execute(
        "SELECT status, count(*), min(length(html_body)) FROM messages GROUP BY status"
    )
    [(status, count, shortest)] = statuses.fetchall()
    assert (status, count) == ("sent", 600) and shortest > 5_000  # the whole newsletter, rendered
