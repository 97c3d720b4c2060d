"""GET /metrics: request, webhook, email-event and enrollment counters move, labels are route
templates, and the optional token guards it (sends are counted in tests/workflows)."""

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from nurture.settings import Settings
from nurture.tracking.tokens import sign, signing_keys
from tests.api.test_webhooks import aimed, basic, send


def sample(client: TestClient, name: str, **labels: str) -> float:
    """The sum of the series of `name` with these labels in the scraped metrics (0 if none yet)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return sum(
        float(found.value)
        for family in text_string_to_metric_families(response.text)
        for found in family.samples
        if found.name == name and all(found.labels.get(k) == v for k, v in labels.items())
    )


def series(client: TestClient, name: str) -> list[dict[str, str]]:
    """The label sets of every series of `name`."""
    text = client.get("/metrics").text
    return [s.labels for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]


def test_a_request_moves_its_route_counter_and_latency(api: TestClient) -> None:
    labels = {"route": "/contacts/{contact_id}", "method": "GET", "status": "404"}
    before = sample(api, "nurture_http_requests_total", **labels)
    timed = sample(api, "nurture_http_request_duration_seconds_count", route=labels["route"], method="GET")

    assert api.get("/contacts/987654321").status_code == 404

    assert sample(api, "nurture_http_requests_total", **labels) == before + 1
    assert sample(
        api, "nurture_http_request_duration_seconds_count", route=labels["route"], method="GET"
    ) == (timed + 1)


def test_labels_never_hold_a_raw_path_or_an_odd_method(api: TestClient) -> None:
    api.get("/contacts/55555?email=ada%40example.com")
    api.get("/no/such/path/77777")
    api.request("BREW", "/health")
    labels = series(api, "nurture_http_requests_total")
    assert {"route": "unmatched", "method": "GET", "status": "404"} in labels
    assert {"route": "/health", "method": "other", "status": "405"} in labels
    for found in labels:
        assert "55555" not in found["route"] and "77777" not in found["route"], found
        assert found["route"] == "unmatched" or found["route"].startswith("/"), found
        assert found["method"] != "BREW", found


def test_a_body_refused_before_routing_is_counted_as_unmatched(api: TestClient) -> None:
    labels = {"route": "unmatched", "method": "POST", "status": "413"}
    before = sample(api, "nurture_http_requests_total", **labels)
    too_big = b"x" * (2 * 1024 * 1024)
    response = api.post("/contacts", content=too_big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert sample(api, "nurture_http_requests_total", **labels) == before + 1


def test_webhooks_count_by_record_type_outcome_and_event(anonymous: TestClient, settings: Settings) -> None:
    auth = basic(settings.webhook_username, settings.webhook_password)
    sent = send(settings)
    delivered = {"type": "delivered", "source": "postmark", "machine": "false"}
    recorded = {"record_type": "Delivery", "outcome": "recorded"}
    repeat = {"record_type": "Delivery", "outcome": "repeat"}
    before = [
        sample(anonymous, "nurture_email_events_total", **delivered),
        sample(anonymous, "nurture_postmark_webhooks_total", **recorded),
        sample(anonymous, "nurture_postmark_webhooks_total", **repeat),
    ]

    payload = aimed("delivery", sent)
    for _ in range(2):  # Postmark retried it: one event, one repeat
        assert anonymous.post("/webhooks/postmark", json=payload, headers=auth).status_code == 200

    assert [
        sample(anonymous, "nurture_email_events_total", **delivered),
        sample(anonymous, "nurture_postmark_webhooks_total", **recorded),
        sample(anonymous, "nurture_postmark_webhooks_total", **repeat),
    ] == [before[0] + 1, before[1] + 1, before[2] + 1]


def test_opens_clicks_and_unsubscribes_count_as_events(anonymous: TestClient, settings: Settings) -> None:
    sent = send(settings)
    keys = signing_keys(settings)
    # Machine-made or not (this one comes right after the send): counted either way.
    opened = {"type": "opened", "source": "pixel"}
    unsubscribed = {"type": "unsubscribed", "source": "one_click", "machine": "false"}
    before = [sample(anonymous, "nurture_email_events_total", **labels) for labels in (opened, unsubscribed)]

    browser = {
        "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.0"
    }
    pixel = sign("open", message_id=sent.message_id, position=0, keys=keys)
    assert anonymous.get(f"/t/o/{pixel}.gif", headers=browser).status_code == 200
    unsubscribe = sign("unsubscribe", message_id=sent.message_id, position=0, keys=keys)
    for _ in range(2):  # a repeated one-click records (and counts) nothing more
        response = anonymous.post(f"/u/{unsubscribe}", data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200

    after = [sample(anonymous, "nurture_email_events_total", **labels) for labels in (opened, unsubscribed)]
    assert after == [before[0] + 1, before[1] + 1]


@pytest.fixture
def guarded(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"metrics_token": "scrape-secret"}))) as client:
        yield client


def test_the_metrics_token_is_required_once_set(guarded: TestClient, api_key: str) -> None:
    assert guarded.get("/metrics").status_code == 401
    # An API key is not the metrics token.
    assert guarded.get("/metrics", headers={"Authorization": f"Bearer {api_key}"}).status_code == 401
    refused = guarded.get("/metrics", headers={"Authorization": "Bearer scrape-secre"})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    allowed = guarded.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert allowed.status_code == 200
    assert "nurture_http_requests_total" in allowed.text


def test_metrics_are_public_without_a_token_and_can_be_turned_off(
    anonymous: TestClient, settings: Settings
) -> None:
    assert anonymous.get("/metrics").status_code == 200
    with TestClient(create_app(settings.model_copy(update={"api_metrics": False}))) as client:
        assert client.get("/metrics").status_code == 404


async def test_an_enrollment_counts_as_started_then_refused(
    settings: Settings, dev_server: WorkflowEnvironment, api_key: str
) -> None:
    run = uuid.uuid4().hex[:8]
    settings = settings.model_copy(
        update={
            "temporal_address": dev_server.client.service_client.config.target_host,
            "task_queue": f"test-{run}",
            "email_task_queue": f"test-email-{run}",
        }
    )
    definition = {"steps": [{"id": "a-month", "type": "wait", "duration": "30d"}]}
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {api_key}"}) as api:
        created = api.post(
            "/automations", json={"name": f"Drip {run}", "definition": definition, "status": "active"}
        )
        contact = api.post("/contacts", json={"email": f"ada-{run}@example.com"})
        automation, contact_id = created.json()["id"], contact.json()["id"]

        def counts() -> list[float]:
            name = "nurture_automation_enrollments_total"
            return [sample(api, name, source="api", result=result) for result in ("started", "once")]

        def enroll() -> int:
            return api.post(
                f"/automations/{automation}/enrollments", json={"contact_id": contact_id}
            ).status_code

        started, once = counts()
        try:
            # The TestClient blocks; its app's Temporal client lives on the TestClient's own loop.
            assert [await asyncio.to_thread(enroll), await asyncio.to_thread(enroll)] == [201, 409]
            assert counts() == [started + 1, once + 1]
        finally:
            # No worker polls this task queue: end the run here rather than leave it on the server.
            handle = dev_server.client.get_workflow_handle(f"automation:{automation}:contact:{contact_id}")
            await handle.terminate(reason="test over")
