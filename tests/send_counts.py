"""Reading the worker's send counter as Prometheus does: `nurture_emails` at a metrics address."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.mail_servers import free_port

Counts = dict[tuple[str, str], float]


def metrics_address() -> str:
    """An address on 127.0.0.1 nothing listens on, for a runtime to serve its metrics at."""
    return f"127.0.0.1:{free_port()}"


def emails_counted(address: str) -> Counts:
    """`nurture_emails` by (status, provider); none while nothing answers at the address yet."""
    try:
        text = httpx.get(f"http://{address}/metrics", timeout=5).text
    except httpx.TransportError:
        return {}
    return {
        (sample.labels["status"], sample.labels["provider"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if family.name == "nurture_emails"
    }
