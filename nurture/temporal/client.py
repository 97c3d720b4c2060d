"""The one way every process connects to Temporal."""

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from nurture.settings import Settings


async def connect(settings: Settings) -> Client:
    """Connect to the configured Temporal namespace with the pydantic data converter."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )


def ui_link(settings: Settings, workflow_id: str) -> str:
    """A Temporal UI link to a workflow id (the UI redirects to its latest run)."""
    from urllib.parse import quote

    base = settings.temporal_ui_url.rstrip("/")
    return f"{base}/namespaces/{settings.temporal_namespace}/workflows/{quote(workflow_id, safe='')}"
