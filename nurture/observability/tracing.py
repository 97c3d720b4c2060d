"""OpenTelemetry traces of workflow starts, signals, workflow runs and activities, over OTLP.

On only when the standard OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is
set; the exporter reads its other standard variables itself (headers, timeout, ...). Temporal's
TracingInterceptor on the client makes the spans, and carries the trace in workflow and activity
headers; a worker built from that client picks it up too. While tracing is off, nothing here
imports OpenTelemetry.
"""

import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from temporalio.client import Interceptor

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

# The service.name of processes that name none (OTEL_SERVICE_NAME wins over this).
DEFAULT_SERVICE = "nurture"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

_lock = threading.Lock()
_interceptors: list[Interceptor] | None = None
_provider: "TracerProvider | None" = None


def enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process exports traces: an OTLP endpoint is set and the SDK is not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def tracer_provider(exporter: "SpanExporter", *, service: str, batch: bool = True) -> "TracerProvider":
    """A tracer provider sending spans to `exporter`, in batches unless told otherwise."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return provider


def interceptor(provider: "TracerProvider") -> Interceptor:
    """Temporal's tracing interceptor, making its spans with this provider."""
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return TracingInterceptor(provider.get_tracer("nurture"))


def setup(*, service: str = DEFAULT_SERVICE) -> Sequence[Interceptor]:
    """The interceptors every Temporal client of this process carries: tracing, or none.

    The first call decides, for the whole process: the worker calls it with its own service name
    before it connects; other processes get DEFAULT_SERVICE on their first connect. The provider
    becomes OpenTelemetry's global one; call shutdown() before the process ends.
    """
    global _interceptors, _provider
    with _lock:
        if _interceptors is None:
            _interceptors = []
            if enabled():
                import opentelemetry.trace
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                _provider = tracer_provider(OTLPSpanExporter(), service=service)
                opentelemetry.trace.set_tracer_provider(_provider)
                _interceptors.append(interceptor(_provider))
        return list(_interceptors)


def shutdown() -> None:
    """Send the spans still batched, and stop; a no-op while tracing is off.

    The provider would do it at exit, but the command line leaves through os._exit
    (nurture.cli.exit), which runs no exit handlers.
    """
    if _provider is not None:
        _provider.shutdown()
