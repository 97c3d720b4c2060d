"""`nurture replay` as an operator runs it: exported and fetched histories against today's workflow code."""

import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.system import SystemActivities
from nurture.diagnostics import DiagnosticsInput
from nurture.temporal.binaries import temporal_cli
from tests.workflows.histories import HISTORIES
from workflows.diagnostics import DiagnosticsWorkflow

COMMITTED = HISTORIES / "message_sent.json"


def _replay(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `nurture replay` in a clean environment: no NURTURE_* variables but the ones given."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    clean.update(NURTURE_DATA_DIR=str(tmp_path), COLUMNS="200", **env)
    return subprocess.run(
        [sys.executable, "-m", "nurture", "replay", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _altered(tmp_path: Path, name: str, change: str) -> Path:
    """A copy of the committed history with its workflow type or its first activity's type renamed."""
    history = json.loads(COMMITTED.read_text())
    events = history["events"]
    if change == "workflow type":
        events[0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"] = "RetiredWorkflow"
    else:
        scheduled = next(e for e in events if "activityTaskScheduledEventAttributes" in e)
        assert scheduled["activityTaskScheduledEventAttributes"]["activityType"]["name"] == "send_email"
        scheduled["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "renamed_activity"
    path = tmp_path / name
    path.write_text(json.dumps(history))
    return path


def test_a_committed_history_replays(tmp_path: Path) -> None:
    result = _replay(str(COMMITTED), tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{COMMITTED}: replayed OK (MessageWorkflow, 11 events)"
    assert result.stderr == ""


def test_a_tampered_history_fails_with_the_nondeterminism_error(tmp_path: Path) -> None:
    tampered = _altered(tmp_path, "tampered.json", "activity type")
    result = _replay(str(COMMITTED), str(tampered), tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{COMMITTED}: replayed OK (MessageWorkflow, 11 events)",
        f"{tampered}: FAILED (MessageWorkflow, 11 events): [TMPRL1100] Nondeterminism error: Activity type "
        "of scheduled event 'renamed_activity' does not match activity type of activity command 'send_email'",
    ]
    # Said once, by the command: no SDK warnings or tracebacks around it.
    assert result.stderr.strip() == "1 of 2 failed to replay"


def test_a_workflow_type_the_code_no_longer_has_fails(tmp_path: Path) -> None:
    renamed = _altered(tmp_path, "renamed.json", "workflow type")
    result = _replay(str(renamed), tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith(
        f"{renamed}: FAILED (RetiredWorkflow, 11 events): Workflow class RetiredWorkflow is not registered"
    )
    assert "MessageWorkflow" in result.stdout, "the message lists the workflows the code has"


def test_a_file_that_is_no_history_fails_and_the_others_still_replay(tmp_path: Path) -> None:
    not_json = tmp_path / "notes.json"
    not_json.write_text("see the UI")
    no_start = tmp_path / "no-start.json"
    no_start.write_text(json.dumps({"events": json.loads(COMMITTED.read_text())["events"][1:]}))
    result = _replay(str(not_json), str(no_start), str(COMMITTED), tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{not_json}: FAILED: not JSON: Expecting value: line 1 column 1 (char 0)",
        f"{no_start}: FAILED: not a workflow history: its first event is not WorkflowExecutionStarted",
        f"{COMMITTED}: replayed OK (MessageWorkflow, 11 events)",
    ]


def test_nothing_to_replay_is_a_usage_error(tmp_path: Path) -> None:
    result = _replay(tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "Give history files, or --from-server WORKFLOW_ID"


def test_unreachable_temporal(tmp_path: Path) -> None:
    result = _replay("--from-server", "message:x", tmp_path=tmp_path, NURTURE_TEMPORAL_ADDRESS="127.0.0.1:1")
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "Cannot reach Temporal at 127.0.0.1:1 (namespace default): Connection refused"
    )
    assert result.stdout == ""


async def test_from_server_and_from_the_temporal_cli_export(
    dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = dev_server.client.service_client.config.target_host
    task_queue = f"test-{uuid.uuid4().hex[:8]}"
    workflow_id = f"diagnostics:replay-{task_queue}"
    activities = SystemActivities(database_url=f"sqlite:///{tmp_path / 'nurture.db'}")
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            dev_server.client,
            task_queue=task_queue,
            workflows=[DiagnosticsWorkflow],
            activities=[activities.check_database],
            activity_executor=executor,
        ):
            await dev_server.client.execute_workflow(
                DiagnosticsWorkflow.run,
                DiagnosticsInput(requested_by="test"),
                id=workflow_id,
                task_queue=task_queue,
            )

    fetched = _replay(
        "--from-server",
        workflow_id,
        "--from-server",
        "diagnostics:nosuch",
        tmp_path=tmp_path,
        NURTURE_TEMPORAL_ADDRESS=address,
    )
    assert fetched.returncode == 1
    assert fetched.stdout.splitlines() == [
        f"{workflow_id}: replayed OK (DiagnosticsWorkflow, 11 events)",
        f"diagnostics:nosuch: FAILED: no workflow with this id on Temporal at {address} (namespace default)",
    ]

    # The documented way to hand a history over: the Temporal CLI's JSON export.
    exported = subprocess.run(
        [
            str(temporal_cli()),
            "workflow",
            "show",
            "-w",
            workflow_id,
            "--output",
            "json",
            "--address",
            address,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    path = tmp_path / "h.json"
    path.write_text(exported.stdout)
    from_file = _replay(str(path), tmp_path=tmp_path)
    assert from_file.returncode == 0, from_file.stdout + from_file.stderr
    assert from_file.stdout.strip() == f"{path}: replayed OK (DiagnosticsWorkflow, 11 events)"
