"""The send counter, read as Prometheus reads it from the worker's runtime: each email counted once,
when the attempt that finished it ends, never again when a retry answers from the ledger."""

import socket
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from nurture.db.session import session_factory
from nurture.email.pipeline import SendDeferred, SendPipeline
from nurture.email.postmark import PostmarkProvider
from nurture.observability.send_counter import SendCounter
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from tests.isolated import isolated
from tests.nurture.email.sending import receipts

# Core exports on its own schedule; this bounds the wait for a scrape to show a count.
ATTEMPTS = 100


def _free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _emails(address: str) -> dict[tuple[str, str], float]:
    text = httpx.get(f"http://{address}/metrics", timeout=5).text
    return {
        (sample.labels["status"], sample.labels["provider"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if family.name == "nurture_emails"
    }


def _until(address: str, expected: dict[tuple[str, str], float]) -> None:
    seen: dict[tuple[str, str], float] = {}
    for _ in range(ATTEMPTS):
        seen = _emails(address)
        if seen == expected:
            return
        time.sleep(0.05)
    assert seen == expected


def test_each_email_is_counted_once_by_the_attempt_that_finished_it(
    settings: Settings, postmark_server: RunningServer
) -> None:
    address = _free_address()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    settings = isolated(settings, postmark_server)
    provider = PostmarkProvider(
        server_token=settings.postmark_server_token, api_url=settings.postmark_api_url, timeout=5
    )
    pipeline = SendPipeline(
        sessions=session_factory(settings.resolved_database_url),
        settings=settings,
        provider=provider,
        counter=SendCounter(runtime.metric_meter),
    )
    first = receipts("receipt:counted", 3)
    pipeline.send_batch(first)
    _until(address, {("sent", "postmark"): 3})

    # The same three again with two more: only the two are new.
    pipeline.send_batch(first + receipts("receipt:counted-more", 5)[3:])
    _until(address, {("sent", "postmark"): 5})

    # Refused by Postmark: nothing finished, nothing counted; the retry that sends counts them.
    refused = receipts("receipt:refused", 2)
    postmark_server.add_fault("503", path="/email/batch")
    with pytest.raises(SendDeferred):
        pipeline.send_batch(refused)
    pipeline.send_batch(refused)
    _until(address, {("sent", "postmark"): 7})

    # Given up: failed, once.
    lost = receipts("receipt:lost", 1)
    postmark_server.add_fault("503", path="/email/batch")
    with pytest.raises(SendDeferred):
        pipeline.send_batch(lost)
    pipeline.give_up_batch(lost, why="test")
    _until(address, {("sent", "postmark"): 7, ("failed", "postmark"): 1})
