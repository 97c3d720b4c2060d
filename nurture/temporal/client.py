"""The one way every process connects to Temporal."""

import re
from collections.abc import Sequence
from pathlib import Path

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from nurture.observability import tracing
from nurture.settings import Settings


async def connect(
    settings: Settings, *, runtime: Runtime | None = None, interceptors: Sequence[Interceptor] | None = None
) -> Client:
    """Connect to the configured Temporal namespace with the pydantic data converter.

    Args:
        settings: where Temporal is.
        runtime: the SDK runtime (the worker's exports Prometheus metrics); the default one if None.
        interceptors: the client's interceptors, which workers built from it inherit; if None, the
            process's tracing interceptor when tracing is configured (nurture.observability.tracing).
    """
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key or None,
        tls=tls_of(settings),
        data_converter=pydantic_data_converter,
        interceptors=tracing.setup() if interceptors is None else interceptors,
        runtime=runtime,
    )


def tls_of(settings: Settings) -> bool | TLSConfig | None:
    """How to reach the frontend: with the client certificate and root CA the settings name, with
    the system's roots, or None (TLS exactly when an API key is given, as the SDK does)."""
    if settings.temporal_tls_cert is not None or settings.temporal_tls_ca is not None:

        def pem(path: Path | None) -> bytes | None:
            return path.read_bytes() if path is not None else None

        return TLSConfig(
            client_cert=pem(settings.temporal_tls_cert),
            client_private_key=pem(settings.temporal_tls_key),
            server_root_ca_cert=pem(settings.temporal_tls_ca),
        )
    return True if settings.temporal_tls else None


def ui_link(settings: Settings, workflow_id: str) -> str:
    """A Temporal UI link to a workflow id (the UI redirects to its latest run)."""
    from urllib.parse import quote

    base = settings.temporal_ui_url.rstrip("/")
    return f"{base}/namespaces/{settings.temporal_namespace}/workflows/{quote(workflow_id, safe='')}"


def connect_failure(exc: BaseException) -> str | None:
    """Why connecting to Temporal failed, in one line, if `exc` is a failed connection; else None.

    temporalio reports a failed connection as a bare RuntimeError with the transport's details.
    """
    if not (isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect")):
        return None
    found = re.search(r'(?:message|error): "([^"]+)"', str(exc))
    reason = found.group(1) if found else str(exc).removeprefix("Failed client connect: ")
    return " ".join(reason.split())
