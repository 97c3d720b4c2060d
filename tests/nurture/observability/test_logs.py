"""JSON log lines carry the run's ids (from Temporal's loggers, and from plain loggers inside an
activity) on the real dev server, and no email address; the API's logging drops uvicorn's raw
access line for one by route template."""

import io
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from nurture.observability.logs import JsonFormatter, formatter, mask_emails
from nurture.settings import Settings

ADDRESS = "ada.lovelace+news@example.com"


@activity.defn
def noisy_send(contact_id: int) -> None:
    activity.logger.warning("sending to %s", ADDRESS)
    # A library's message, logged by a plain logger, naming the address URL-encoded.
    logging.getLogger("tests.plain").warning(
        "provider refused to=%s",
        ADDRESS.replace("@", "%40"),
        extra={"message_id": 41, "contact_id": contact_id},
    )


@workflow.defn
class NoisyWorkflow:
    @workflow.run
    async def run(self, contact_id: int) -> None:
        workflow.logger.warning("sending for contact %s", contact_id)
        await workflow.execute_activity(noisy_send, contact_id, start_to_close_timeout=timedelta(seconds=10))


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged, as the JSON formatter writes it; Temporal's loggers put back as they were."""
    saved = activity.logger.activity_info_on_message, workflow.logger.workflow_info_on_message
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(Settings(log_format="json")))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        activity.logger.activity_info_on_message, workflow.logger.workflow_info_on_message = saved


async def test_lines_carry_the_run_ids_and_no_address(
    dev_server: WorkflowEnvironment, json_lines: io.StringIO
) -> None:
    task_queue, workflow_id = f"test-{uuid.uuid4()}", f"noisy-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=1) as executor:
        async with Worker(
            dev_server.client,
            task_queue=task_queue,
            workflows=[NoisyWorkflow],
            activities=[noisy_send],
            activity_executor=executor,
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            handle = await dev_server.client.start_workflow(
                NoisyWorkflow.run, 7, id=workflow_id, task_queue=task_queue
            )
            await handle.result()

    output = json_lines.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    by_message = {line["message"]: line for line in lines if line.get("workflow_id") == workflow_id}
    run = {"workflow_id": workflow_id, "run_id": handle.result_run_id, "workflow_type": "NoisyWorkflow"}

    in_workflow = by_message["sending for contact 7"]
    assert in_workflow.items() >= run.items()
    assert in_workflow["logger"] == "temporalio.workflow" and in_workflow["level"] == "WARNING"

    in_activity = by_message["sending to <email>"]
    assert in_activity.items() >= {**run, "activity_type": "noisy_send", "attempt": 1}.items()
    assert in_activity["activity_id"]

    plain = by_message["provider refused to=<email>"]
    assert plain.items() >= {**run, "activity_type": "noisy_send", "message_id": 41, "contact_id": 7}.items()

    assert "example.com" not in output and "ada" not in output


def test_addresses_are_masked_in_messages_and_tracebacks() -> None:
    assert mask_emails("to ada@example.com, b.c+d@mail.example.org.") == "to <email>, <email>."
    assert mask_emails("GET /contacts?email=ada%40example.com") == "GET /contacts?email=<email>"
    assert mask_emails("contact 7 at step 3") == "contact 7 at step 3"
    try:
        raise ValueError(f"Invalid 'To' address: '{ADDRESS}'")
    except ValueError:
        record = logging.getLogger("tests").makeRecord(
            "tests", logging.ERROR, __file__, 1, "send failed", (), sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "send failed"
    assert "Invalid 'To' address: '<email>'" in line["exception"] and "example.com" not in line["exception"]


SERVED_API = """
import logging, logging.config, sys
from fastapi.testclient import TestClient
from api.main import create_app
from nurture.observability.logs import uvicorn_log_config
from nurture.settings import Settings

settings = Settings(env="test", log_format="json", data_dir=sys.argv[1], temporal_address="127.0.0.1:1")
logging.config.dictConfig(uvicorn_log_config(settings))
with TestClient(create_app(settings)) as client:
    client.get("/contacts/12", params={"email": "ada@example.com"})
# What uvicorn would have logged for it: dropped.
logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
                                         "/contacts/12?email=ada%40example.com", "1.1", 401)
logging.getLogger("uvicorn.error").info("Application startup complete.")
"""


def test_the_served_api_logs_requests_by_route_in_json(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", SERVED_API, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    [request] = [line for line in lines if line["logger"] == "nurture.http"]
    assert request["message"].startswith("GET /contacts/{contact_id} 401 ")
    assert (
        request.items()
        >= {"http_method": "GET", "http_route": "/contacts/{contact_id}", "http_status": 401}.items()
    )
    assert "Application startup complete." in [line["message"] for line in lines]
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    assert "example.com" not in result.stderr and "/contacts/12" not in result.stderr
