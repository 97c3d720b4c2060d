"""The API's Prometheus metrics: requests, sends, enrollments and email events, with bounded labels.

Every label value comes from code (a route template, an enum, a fixed word), never from a
request's path, body or ids, so the number of series stays fixed however much traffic arrives.
Metrics live in prometheus_client's default registry, which also holds the process's own
(CPU, memory, file descriptors, garbage collection).
"""

from typing import Literal

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from nurture.db.models import MessageEvent

# Sub-second API calls are the norm; a send with ?wait=true can take up to 30 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The route label of a request no route served (a 404 for an unknown path, a body over the size
# limit refused before routing): one series for all of them.
UNMATCHED = "unmatched"

SendKind = Literal["transactional", "one_to_one", "template"]

HTTP_REQUESTS = Counter(
    "nurture_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "nurture_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
SENDS = Counter(
    "nurture_sends",
    "One-off emails the API handed to Temporal, by kind; result `repeat` when the message key "
    "(Idempotency-Key) was used before and nothing new was started.",
    ["kind", "result"],
)
ENROLLMENTS = Counter(
    "nurture_automation_enrollments",
    "Automation runs the API tried to start for one contact, by source (`api`: POST "
    "/automations/{id}/enrollments; `trigger`: a contact change) and result (`started`, or the "
    "refusal's category: `once`, `inactive`, `running`...).",
    ["source", "result"],
)
EMAIL_EVENTS = Counter(
    "nurture_email_events",
    "Engagement events newly recorded on sent messages by the API, by type (delivered, opened, "
    "clicked, bounced, complained, unsubscribed, replied), source (postmark, pixel, link, "
    "one_click, unsubscribe_page) and whether a machine, not a person, caused it.",
    ["type", "source", "machine"],
)
POSTMARK_WEBHOOKS = Counter(
    "nurture_postmark_webhooks",
    "Postmark outbound webhooks handled, by RecordType and outcome (recorded, repeat, suppressed, "
    "unsuppressed, ignored).",
    ["record_type", "outcome"],
)


def count_send(kind: SendKind, *, started: bool) -> None:
    """Count a one-off send the API handed to Temporal: newly started, or a repeat of its key."""
    SENDS.labels(kind=kind, result="started" if started else "repeat").inc()


def count_enrollment(source: Literal["api", "trigger"], *, result: str) -> None:
    """Count an attempt to start an automation run; `result` is `started` or a refusal category
    (nurture.automations.bulk.refusal_category), never the refusal's free text."""
    ENROLLMENTS.labels(source=source, result=result).inc()


def count_email_event(event: MessageEvent | None) -> None:
    """Count an engagement event newly recorded on a message; None (a repeat) counts nothing.

    Call it once the event is committed. Its source is one of the fixed words the code records.
    """
    if event is None:
        return
    machine = "true" if event.machine else "false"
    EMAIL_EVENTS.labels(type=event.type.value, source=event.source, machine=machine).inc()


def count_postmark_webhook(*, record_type: str, outcome: str) -> None:
    """Count one Postmark webhook handled; `record_type` is one Nurture parsed, so a known one."""
    POSTMARK_WEBHOOKS.labels(record_type=record_type, outcome=outcome).inc()


def exposition(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The registry's metrics in Prometheus's text format, and that format's content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
