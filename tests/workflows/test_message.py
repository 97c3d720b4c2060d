"""One email sent through the API as a durable run on the real dev server: it arrives once,
whatever Postmark answers and even when the worker is killed mid-send."""

import asyncio
import os
import signal
import time
from pathlib import Path

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from nurture.db.models import ActivityEvent
from nurture.db.session import session_factory
from tests.workflows.histories import record
from tests.workflows.message_stack import Stack, send, worker_process


async def test_a_message_is_sent_once_per_key_and_visible_as_a_run(
    stack: Stack, worker: None, dev_server: WorkflowEnvironment
) -> None:
    key = stack.key("receipt")
    first = await send(stack, key, wait="true")
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["status"] == "sent" and body["workflow_id"] == f"message:{key}"
    assert body["ui_url"].endswith(f"/workflows/message%3A{key}")
    [email] = stack.arrived(key)
    assert email["Subject"] == "Your receipt, Ada" and email["MessageStream"] == "outbound"
    assert body["message"]["provider_message_id"] == email["MessageID"]

    again = await send(stack, key, wait="true")
    assert again.status_code == 200 and again.json()["status"] == "sent"
    assert len(stack.arrived(key)) == 1

    await record(dev_server.client, workflow_id=f"message:{key}", name="message_sent")
    runs = [r async for r in dev_server.client.list_workflows(f"WorkflowId = 'message:{key}'")]
    assert [r.search_attributes.get("NurtureKind") for r in runs] == [["message"]]


async def test_postmark_failing_after_accepting_still_delivers_exactly_once(
    stack: Stack, worker: None
) -> None:
    stack.postmark.add_fault("accept_then_500")
    key = stack.key("receipt")
    response = await send(stack, key, wait="true")
    assert response.json()["status"] == "sent", response.text
    assert len(stack.arrived(key)) == 1
    assert response.json()["message"]["attempts"] == 1, "the retry found the send instead of repeating it"


async def test_bad_references_are_refused_before_anything_starts(stack: Stack) -> None:
    response = await asyncio.to_thread(
        stack.api.post, "/messages", json={"template_id": 999, "contact_id": stack.contact_id}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "template_id", "message": "template_id: template 999 does not exist"}
    ]


async def test_a_worker_killed_mid_send_does_not_send_twice(stack: Stack, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    # Postmark accepts the email and then answers nothing: the worker is stuck in the send.
    stack.postmark.add_fault("accept_then_hang", seconds=120)
    key = stack.key("receipt")
    first = worker_process(stack.settings, log)
    try:
        started = await send(stack, key)
        assert started.status_code == 202
        deadline = time.monotonic() + 60
        while not stack.arrived(key):
            assert time.monotonic() < deadline, f"the worker never sent:\n{log.read_text()}"
            await asyncio.sleep(0.2)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert await asyncio.to_thread(stack.status, key) == "sending"

    # A new worker takes the send over once the dead one's attempt times out, asks Postmark
    # whether it went out, and records it instead of sending again.
    second = worker_process(stack.settings, log)
    try:
        deadline = time.monotonic() + 90
        while await asyncio.to_thread(stack.status, key) != "sent":
            assert time.monotonic() < deadline, f"the send was not taken over:\n{log.read_text()}"
            await asyncio.sleep(0.5)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert len(stack.arrived(key)) == 1
    with session_factory(stack.settings.resolved_database_url)() as session:
        sent = session.scalars(
            select(ActivityEvent.data).where(
                ActivityEvent.contact_id == stack.contact_id, ActivityEvent.type == "email.sent"
            )
        ).all()
    assert [event.get("reconciled") for event in sent] == [True]
