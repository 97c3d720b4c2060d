"""The worker's Temporal SDK runtime: Core's logs through Python logging, and the SDK's metrics
served for Prometheus when NURTURE_WORKER_METRICS_ADDRESS asks for them."""

import logging

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from nurture.settings import Settings

# Core's own records arrive as `temporalio.core-sdk_core::<target>`.
CORE_LOGGER = "temporalio.core"


def worker_runtime(settings: Settings) -> Runtime:
    """A runtime for the worker's client (and so its workers).

    Core (the SDK's Rust part) would print its warnings to stderr in a format of its own; here they
    go through Python logging, so they come out as JSON lines too, with addresses masked. With
    NURTURE_WORKER_METRICS_ADDRESS set, it serves the SDK's metrics at http://<address>/metrics:
    `temporal_*` series (workflow and activity task latencies, slots, polls, sticky cache, request
    failures...) with durations in milliseconds, as the SDK's defaults have them, labelled with the
    namespace, task queue and workflow or activity type where they apply.

    Raises:
        ValueError: the metrics port is taken (the worker stops at start, before taking any task).
    """
    prometheus = None
    if settings.worker_metrics_address:
        prometheus = PrometheusConfig(bind_address=settings.worker_metrics_address)
    core_logs = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
    )
    return Runtime(telemetry=TelemetryConfig(logging=core_logs, metrics=prometheus))
