"""Tracing: off without an OTLP endpoint (and OpenTelemetry's SDK not even imported), spans sent
over OTLP/HTTP with one, and on the real dev server a traced client and its worker make one trace
of a workflow and its activity."""

import subprocess
import sys
import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import WorkflowEnvironment

from nurture.diagnostics import DiagnosticsInput
from nurture.observability import tracing
from nurture.settings import Settings
from nurture.temporal.client import connect
from workers.registration import WorkerDeps, running_workers
from workflows.diagnostics import DiagnosticsWorkflow


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
    ],
)
def test_tracing_is_on_only_with_an_otlp_endpoint(environ: dict[str, str], on: bool) -> None:
    assert tracing.enabled(environ) is on


def test_without_an_endpoint_no_interceptor_and_no_sdk_import() -> None:
    script = (
        "import sys\n"
        "from nurture.observability import tracing\n"
        "import nurture.temporal.client, workers.worker\n"
        "assert tracing.setup(service='nurture-worker') == []\n"
        "loaded = [m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter',"
        " 'temporalio.contrib.opentelemetry'))]\n"
        "print(loaded)\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


async def test_a_workflow_and_its_activity_make_one_trace(
    dev_server: WorkflowEnvironment, settings: Settings
) -> None:
    exporter = InMemorySpanExporter()
    provider = tracing.tracer_provider(exporter, service="nurture-test", batch=False)
    settings = settings.model_copy(
        update={
            "temporal_address": dev_server.client.service_client.config.target_host,
            "task_queue": f"test-{uuid.uuid4()}",
            "email_task_queue": f"test-email-{uuid.uuid4()}",
        }
    )
    client = await connect(settings, interceptors=[tracing.interceptor(provider)])
    async with running_workers(client, WorkerDeps(settings=settings)):
        report = await client.execute_workflow(
            DiagnosticsWorkflow.run,
            DiagnosticsInput(requested_by="tests"),
            id=f"diagnostics:{uuid.uuid4()}",
            task_queue=settings.task_queue,
            execution_timeout=timedelta(seconds=60),
        )
    assert report.database.reachable

    spans = {span.name: span for span in exporter.get_finished_spans()}
    parents = {
        # Temporal's workflow spans take no time (a workflow replays), so they hang off the
        # client's start: the run, each activity's scheduling, and the completion.
        "RunWorkflow:DiagnosticsWorkflow": "StartWorkflow:DiagnosticsWorkflow",
        "StartActivity:check_database": "StartWorkflow:DiagnosticsWorkflow",
        "CompleteWorkflow:DiagnosticsWorkflow": "StartWorkflow:DiagnosticsWorkflow",
        # The activity's run, on the worker, is the child of its scheduling.
        "RunActivity:check_database": "StartActivity:check_database",
    }
    assert set(parents) | set(parents.values()) <= set(spans), sorted(spans)
    for name, parent in parents.items():
        found = spans[name].parent
        assert found is not None and found.span_id == spans[parent].context.span_id, name
    assert len({span.context.trace_id for span in spans.values()}) == 1, "the spans are not one trace"
    assert {span.resource.attributes["service.name"] for span in spans.values()} == {"nurture-test"}


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that keeps what it was sent."""

    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


# Leaves as the command line does (nurture.cli.exit): through os._exit, with no exit handlers.
EXPORTING = """
import os
import opentelemetry.trace
from nurture.observability import tracing
[interceptor] = tracing.setup(service="nurture-worker")
assert type(interceptor).__name__ == "TracingInterceptor", interceptor
with opentelemetry.trace.get_tracer("tests").start_as_current_span("exported-at-exit"):
    pass
tracing.shutdown()
os._exit(0)
"""


def test_with_an_endpoint_spans_leave_over_otlp_http_at_shutdown() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {
            "PATH": "/usr/bin:/bin",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
        }
        result = subprocess.run(
            [sys.executable, "-c", EXPORTING], capture_output=True, text=True, env=env, timeout=60
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    [(path, content_type, body)] = _Collector.received
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    # The protobuf carries the span's name and the process's service name as plain strings.
    assert b"exported-at-exit" in body and b"nurture-worker" in body
