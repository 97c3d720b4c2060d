"""`nurture worker` as an operator runs it against the real dev server, with
NURTURE_WORKER_METRICS_ADDRESS and NURTURE_LOG_FORMAT=json: Prometheus reads the Temporal SDK's
metrics of the runs it did, and every log line is a JSON object."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from nurture.settings import Settings
from workers.doctor import run_diagnostics

# Enough for a worker to start and handle one diagnostics run; bounded, not a timing check.
ATTEMPTS = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(address: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = httpx.get(f"http://{address}/metrics", timeout=5).text
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        # By family: a histogram's buckets, sum and count are one family, and so is a counter
        # whatever its samples are called (the SDK names them without `_total`).
        for sample in family.samples:
            found.setdefault(family.name, []).append((sample.labels, sample.value))
    return found


async def _completed(address: str, task_queue: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The scraped metrics once they count the diagnostics run as completed on this task queue."""
    metrics: dict[str, list[tuple[dict[str, str], float]]] = {}
    for _ in range(ATTEMPTS):
        metrics = await asyncio.to_thread(_scrape, address)
        for labels, value in metrics.get("temporal_workflow_completed", []):
            if (
                labels.get("task_queue") == task_queue
                and labels.get("workflow_type") == "DiagnosticsWorkflow"
            ):
                assert value == 1
                return metrics
        await asyncio.sleep(0.1)
    raise AssertionError(f"no completed DiagnosticsWorkflow among {sorted(metrics)}")


async def test_the_worker_serves_temporal_metrics_and_logs_json(
    dev_server: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    address = f"127.0.0.1:{_free_port()}"
    settings = settings.model_copy(
        update={
            "temporal_address": dev_server.client.service_client.config.target_host,
            "task_queue": f"test-{uuid.uuid4()}",
            "email_task_queue": f"test-email-{uuid.uuid4()}",
        }
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NURTURE_", "OTEL_"))}
    env.update(
        NURTURE_ENV="test",
        NURTURE_DATA_DIR=str(tmp_path),
        NURTURE_DATABASE_URL=settings.resolved_database_url,
        NURTURE_TEMPORAL_ADDRESS=settings.temporal_address,
        NURTURE_TASK_QUEUE=settings.task_queue,
        NURTURE_EMAIL_TASK_QUEUE=settings.email_task_queue,
        NURTURE_WORKER_METRICS_ADDRESS=address,
        NURTURE_LOG_FORMAT="json",
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "nurture", "worker"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        report = await run_diagnostics(settings)
        assert report.database.migrated, report
        metrics = await _completed(address, settings.task_queue)
    finally:
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, 60)
    assert code == 0, log.read_text()

    # The SDK's own series, for both task queues the worker polls.
    polled = {
        labels.get("task_queue") for labels, _ in metrics.get("temporal_worker_task_slots_available", [])
    }
    assert {settings.task_queue, settings.email_task_queue} <= polled, polled
    ran = {
        labels.get("activity_type") for labels, _ in metrics.get("temporal_activity_execution_latency", [])
    }
    assert "check_database" in ran, sorted(metrics)

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    assert f"Serving Temporal SDK metrics at http://{address}/metrics" in messages, messages
    assert "Worker stopped" in messages, messages
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines), lines
