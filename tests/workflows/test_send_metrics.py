"""Send counters on the real dev server: the API's (a transactional send counts as started, the
same Idempotency-Key again as a repeat, and the email arrives once), and the worker's count of
the emails it sent, as `nurture worker` serves it for Prometheus."""

import asyncio
import signal
import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.send_counts import Counts, emails_counted, metrics_address
from tests.workflows.message_stack import Stack, send, worker_process

# Enough for the worker to start and send once, and Core to export; bounded, not a timing check.
ATTEMPTS = 300


def _sends(stack: Stack, kind: str, result: str) -> float:
    text = stack.api.get("/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "nurture_sends_total" and sample.labels == {"kind": kind, "result": result}
    )


async def test_a_transactional_send_moves_the_send_counter(stack: Stack, worker: None) -> None:
    body = {"contact_id": stack.contact_id, "template_id": stack.template_id}
    headers = {"Idempotency-Key": f"receipt-{uuid.uuid4()}"}
    started, repeat = _sends(stack, "transactional", "started"), _sends(stack, "transactional", "repeat")

    def post() -> dict[str, object]:
        response = stack.api.post(
            "/messages/transactional", json=body, headers=headers, params={"wait": "true"}
        )
        assert response.status_code in (200, 202), response.text
        return dict(response.json())

    # The TestClient blocks; run it off the loop the in-process worker polls on.
    first = await asyncio.to_thread(post)
    assert _sends(stack, "transactional", "started") == started + 1
    assert _sends(stack, "transactional", "repeat") == repeat

    again = await asyncio.to_thread(post)
    assert again["key"] == first["key"]
    assert _sends(stack, "transactional", "started") == started + 1
    assert _sends(stack, "transactional", "repeat") == repeat + 1
    assert len(stack.arrived(str(first["key"]))) == 1


async def test_the_worker_counts_each_email_it_sent_once(stack: Stack, tmp_path: Path) -> None:
    address = metrics_address()
    log = tmp_path / "worker.log"
    # Postmark takes the email but its answer is lost: the retry finds it, and counts it then.
    stack.postmark.add_fault("accept_then_500")
    worker = worker_process(
        stack.settings, log, NURTURE_WORKER_METRICS_ADDRESS=address, NURTURE_RECONCILE_DELAY="1"
    )
    try:
        key = stack.key("receipt")
        response = await send(stack, key, wait="true")
        assert response.json()["status"] == "sent", response.text
        counted: Counts = {}
        for _ in range(ATTEMPTS):
            counted = await asyncio.to_thread(emails_counted, address)
            if counted:
                break
            await asyncio.sleep(0.1)
        assert counted == {("sent", "postmark"): 1}, log.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert len(stack.arrived(key)) == 1
