"""The worker's count of the emails its send pipelines finished, served with the SDK's metrics."""

from collections import Counter
from collections.abc import Iterable

from temporalio.common import MetricMeter

from nurture.schemas.email import MessageStatus


class SendCounter:
    """`nurture_emails`: emails finished, by final status and provider (bounded labels).

    Made on the worker's Temporal runtime, so the series appear at NURTURE_WORKER_METRICS_ADDRESS
    beside the SDK's own (a no-op when no address is set). Only keys an attempt finished itself
    are counted: a retry answering from the ledger for keys an earlier attempt finished counts
    nothing again.
    """

    def __init__(self, meter: MetricMeter) -> None:
        self._emails = meter.create_counter(
            "nurture_emails",
            "Emails the worker's send pipeline finished, by final status (sent, suppressed, "
            "failed) and provider (postmark, smtp).",
            "emails",
        )

    def count(self, *, provider: str, statuses: Iterable[MessageStatus]) -> None:
        """Count keys an attempt finished."""
        for status, emails in Counter(statuses).items():
            self._emails.add(emails, {"status": status.value, "provider": provider})
