"""`nurture doctor` as an operator runs it when something is wrong: one line that says what, no traceback."""

import os
import subprocess
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment


def _doctor(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    clean.update(NURTURE_DATA_DIR=str(tmp_path), COLUMNS="200", **env)
    return subprocess.run(
        [sys.executable, "-m", "nurture", "doctor", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_unreachable_temporal(tmp_path: Path) -> None:
    result = _doctor(tmp_path=tmp_path, NURTURE_TEMPORAL_ADDRESS="127.0.0.1:1")
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "Cannot reach Temporal at 127.0.0.1:1 (namespace default): Connection refused"
    )
    assert result.stdout == ""


async def test_unknown_namespace(dev_server: WorkflowEnvironment, tmp_path: Path) -> None:
    address = dev_server.client.service_client.config.target_host
    result = _doctor(tmp_path=tmp_path, NURTURE_TEMPORAL_ADDRESS=address, NURTURE_TEMPORAL_NAMESPACE="nosuch")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Temporal at {address} (namespace nosuch) refused the diagnostics run: "
        "Namespace nosuch is not found."
    )


async def test_no_worker_polling(dev_server: WorkflowEnvironment, tmp_path: Path) -> None:
    address = dev_server.client.service_client.config.target_host
    result = _doctor("--timeout", "2", tmp_path=tmp_path, NURTURE_TEMPORAL_ADDRESS=address)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"No worker answered on Temporal at {address} (namespace default): no worker is polling the "
        "`nurture` task queue; start `nurture worker` (waited 2 s)"
    )
