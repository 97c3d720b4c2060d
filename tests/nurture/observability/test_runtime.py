"""The worker's runtime: a malformed metrics address refused by the settings, a taken port refused
at start, and Core's warnings delivered to Python logging (the endpoint's content is tested in
tests/workers/test_worker_observability.py)."""

import asyncio
import logging
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import ValidationError
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from nurture.observability.runtime import CORE_LOGGER, worker_runtime
from nurture.settings import Settings

# Core hands its logs over in batches; this bounds the wait for one, it does not time anything.
ATTEMPTS = 100


@pytest.mark.parametrize(
    "address", ["9464", "0.0.0.0", "0.0.0.0:", "localhost:9464", ":9464", "0.0.0.0:70000", "0.0.0.0:http"]
)
def test_a_malformed_address_is_refused_naming_the_setting(address: str) -> None:
    with pytest.raises(ValidationError, match="worker_metrics_address"):
        Settings(worker_metrics_address=address)


def test_a_taken_port_stops_the_worker_at_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(ValueError, match="Address already in use"):
            worker_runtime(Settings(worker_metrics_address=address))


@activity.defn
def idle() -> None:
    """Never called: the worker below cannot start."""


async def test_core_warnings_reach_python_logging(
    dev_server: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=CORE_LOGGER)
    # A namespace that does not exist: Core warns while the worker fails its start-up checks.
    client = await Client.connect(
        dev_server.client.service_client.config.target_host,
        namespace=f"missing-{uuid.uuid4().hex[:8]}",
        runtime=worker_runtime(Settings()),
    )
    with ThreadPoolExecutor(max_workers=1) as executor:
        worker = Worker(client, task_queue="none", activities=[idle], activity_executor=executor)
        with pytest.raises(RuntimeError, match="not found"):
            await worker.run()
    for _ in range(ATTEMPTS):
        if any(record.name.startswith(CORE_LOGGER) for record in caplog.records):
            break
        await asyncio.sleep(0.05)
    core = [record for record in caplog.records if record.name.startswith(CORE_LOGGER)]
    assert core, [record.name for record in caplog.records]
    assert all(record.levelno >= logging.WARNING for record in core)
