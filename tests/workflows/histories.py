"""Recorded workflow histories: written by tests when asked, replayed by test_replay.py."""

import os
from pathlib import Path

from temporalio.client import Client

HISTORIES = Path(__file__).parent.parent / "histories"


async def record(client: Client, *, workflow_id: str, name: str) -> None:
    """Save this run's history as tests/histories/{name}.json when NURTURE_RECORD_HISTORIES=1.

    Record again only for a new path through a workflow; a changed workflow must keep
    replaying the histories already committed (running workflows have them).
    """
    if os.environ.get("NURTURE_RECORD_HISTORIES") != "1":
        return
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
