"""The API's send counters on the real dev server: a transactional send counts as started, the
same Idempotency-Key again as a repeat, and the email arrives once."""

import asyncio
import uuid

from prometheus_client.parser import text_string_to_metric_families

from tests.workflows.message_stack import Stack


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
