"""Every committed history replays against today's workflow code (invariant 4: determinism)."""

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.workflows.histories import HISTORIES
from workers.registration import WORKFLOWS

RECORDED = sorted(HISTORIES.glob("*.json"))


def test_histories_are_recorded() -> None:
    assert RECORDED, "no histories in tests/histories: record them with NURTURE_RECORD_HISTORIES=1"


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_history_replays(path: Path) -> None:
    events = json.loads(path.read_text())
    workflow_id = f"replay-{path.stem}"
    history = WorkflowHistory.from_json(workflow_id, events)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
