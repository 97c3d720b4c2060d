"""The send counter, read as Prometheus reads it from the worker's runtime: each email counted once,
when the attempt that finished it ends, never again when a retry answers from the ledger."""

import time

import pytest
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from nurture.db.session import session_factory
from nurture.email.pipeline import SendDeferred, SendPipeline
from nurture.email.postmark import PostmarkProvider
from nurture.observability.send_counter import SendCounter
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from tests.isolated import isolated
from tests.nurture.email.sending import receipts
from tests.send_counts import Counts, emails_counted, metrics_address

# Core exports on its own schedule; this bounds the wait for a scrape to show a count.
ATTEMPTS = 100


def _until(address: str, expected: Counts) -> None:
    seen: Counts = {}
    for _ in range(ATTEMPTS):
        seen = emails_counted(address)
        if seen == expected:
            return
        time.sleep(0.05)
    assert seen == expected


def test_each_email_is_counted_once_by_the_attempt_that_finished_it(
    settings: Settings, postmark_server: RunningServer
) -> None:
    address = metrics_address()
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
