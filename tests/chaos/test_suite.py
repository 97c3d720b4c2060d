"""The fault suite's short form (`python -m chaos --short`), as CI runs it: every fault at once, each in
a lab of its own, and none may lose or double an email or leave a run unfinished.

The faults need more than the shared fixtures give: a dev server they can restart with its state in
a file, a Temporal namespace and a local Postmark server each (a queued provider fault strikes
whoever sends next), and worker processes to SIGKILL. So the suite builds its own stage; the test
gives it a folder and the backend the other tests use. Fault 4 never restarts the PostgreSQL
cluster here (that would break every other test using it): it cuts its own database off instead,
or on SQLite holds the write lock past the busy timeout.
"""

import random
from pathlib import Path

from chaos.databases import default_backend
from chaos.results import Check, FaultResult
from chaos.suite import FAULTS, run_suite
from chaos.webhook_replay import Subject, delivery_order
from chaos.webhook_stories import STORIES
from tests.conftest import REQUIRE_POSTGRES


async def test_no_fault_of_the_short_suite_loses_or_doubles_an_email_or_leaves_a_run_unfinished(
    tmp_path: Path,
) -> None:
    backend = "postgresql" if REQUIRE_POSTGRES else default_backend()
    results = await run_suite(short=True, backend=backend, folder=tmp_path)

    assert [r.number for r in results] == [f.NUMBER for f in FAULTS]
    failures = [line for r in results for line in r.failures()]
    assert not failures, "\n".join(failures) + f"\nlogs in {tmp_path}"
    assert all(r.passed for r in results)


def test_replayed_webhooks_come_twice_each_and_each_copy_of_a_story_in_its_own_order() -> None:
    story = STORIES[1]  # four webhooks: delivery, two opens, a click
    subjects = [Subject(story, copy, contact_id=copy, email=f"c{copy}@example.com") for copy in range(4)]
    for s in subjects:
        s.payloads = [{"contact": s.contact_id, "n": n} for n in range(len(story.events))]

    posted = delivery_order(subjects, random.Random(1))

    for s in subjects:
        mine = [p["n"] for p in posted if p["contact"] == s.contact_id]
        assert sorted(mine) == sorted(2 * list(range(len(story.events))))
        firsts = list(dict.fromkeys(mine))
        if s.copy == 0:
            assert firsts == [0, 1, 2, 3]
        if s.copy == 1:
            assert firsts == [3, 2, 1, 0]
            # Odd copies: each repeat right behind the first delivery, racing it.
            assert mine == [3, 3, 2, 2, 1, 1, 0, 0]


def test_a_fault_passes_only_with_checks_all_held_and_no_error() -> None:
    held, broken = Check("no email lost", True), Check("none doubled", False, "2 twice")
    assert FaultResult(1, "kill", checks=[held]).passed is True
    assert FaultResult(1, "kill", checks=[held, broken]).passed is False
    assert FaultResult(1, "kill", checks=[held], error="TimeoutError").passed is False
    assert FaultResult(1, "kill").passed is False
    assert FaultResult(1, "kill", skipped="no cluster").passed is None
    assert FaultResult(1, "kill", checks=[held, broken]).failures() == [
        "fault 1 (kill): none doubled: 2 twice"
    ]
