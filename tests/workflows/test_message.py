"""One email sent through the API as a durable run on the real dev server: it arrives once,
whatever Postmark answers and even when the worker is killed mid-send."""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from nurture.crud.api_keys import create_api_key
from nurture.crud.templates import create_template
from nurture.db.models import ActivityEvent, Contact
from nurture.db.session import session_factory, transaction
from nurture.postmark_server import RunningServer
from nurture.schemas.email import METADATA_KEY, TemplateKind
from nurture.settings import Settings
from tests.isolated import isolated
from tests.workflows.histories import record
from workers.registration import WorkerDeps, running_workers


@dataclass
class Stack:
    settings: Settings
    api: TestClient
    postmark: RunningServer
    contact_id: int
    template_id: int
    run: str

    def key(self, name: str) -> str:
        """A message key of this test alone: workflow ids outlive the test on the shared dev server."""
        return f"{name}-{self.run}"

    def send(self, key: str, **query: str) -> httpx.Response:
        body = {"template_id": self.template_id, "contact_id": self.contact_id, "key": key}
        return self.api.post("/messages", json=body, params=query)

    def arrived(self, key: str) -> list[dict]:
        return self.postmark.messages(**{f"metadata_{METADATA_KEY}": key})

    def status(self, key: str) -> str | None:
        [message] = self.api.get("/messages", params={"key": key}).json()["data"] or [None]
        return message["status"] if message else None


@pytest.fixture
def stack(
    settings: Settings, dev_server: WorkflowEnvironment, postmark_server: RunningServer
) -> Iterator[Stack]:
    run = uuid.uuid4().hex[:8]
    settings = isolated(
        settings,
        postmark_server,
        temporal_address=dev_server.client.service_client.config.target_host,
        postmark_timeout=2.0,
        reconcile_delay=1.0,
    )
    with transaction(session_factory(settings.resolved_database_url)) as session:
        contact = Contact(email="ada@example.com", first_name="Ada")
        session.add(contact)
        template = create_template(
            session,
            name="Receipt",
            kind=TemplateKind.TRANSACTIONAL,
            subject="Your receipt, {{ contact.first_name }}",
            html_body="<p>Thanks, {{ contact.first_name }}.</p>",
        )
        session.flush()
        _, key = create_api_key(session, name="tests")
        ids = contact.id, template.id
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {key}"}) as api:
        yield Stack(settings, api, postmark_server, *ids, run=run)


@pytest.fixture
async def worker(stack: Stack, dev_server: WorkflowEnvironment) -> AsyncIterator[None]:
    async with running_workers(dev_server.client, WorkerDeps(settings=stack.settings)):
        yield


async def _send(stack: Stack, key: str, **query: str) -> httpx.Response:
    # The TestClient blocks; run it off the loop the in-process worker polls on.
    return await asyncio.to_thread(stack.send, key, **query)


async def test_a_message_is_sent_once_per_key_and_visible_as_a_run(
    stack: Stack, worker: None, dev_server: WorkflowEnvironment
) -> None:
    key = stack.key("receipt")
    first = await _send(stack, key, wait="true")
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["status"] == "sent" and body["workflow_id"] == f"message:{key}"
    assert body["ui_url"].endswith(f"/workflows/message%3A{key}")
    [email] = stack.arrived(key)
    assert email["Subject"] == "Your receipt, Ada" and email["MessageStream"] == "outbound"
    assert body["message"]["provider_message_id"] == email["MessageID"]

    again = await _send(stack, key, wait="true")
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
    response = await _send(stack, key, wait="true")
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


def _worker_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env.update(
        NURTURE_DATABASE_URL=settings.resolved_database_url,
        NURTURE_DATA_DIR=str(settings.data_dir),
        NURTURE_TEMPORAL_ADDRESS=settings.temporal_address,
        NURTURE_POSTMARK_API_URL=settings.postmark_api_url,
        NURTURE_POSTMARK_SERVER_TOKEN=settings.postmark_server_token,
        # Its lease (two calls of 5 + 5 s, plus a margin) runs out soon after Temporal's 30 s timeout.
        NURTURE_POSTMARK_TIMEOUT="5",
        NURTURE_TASK_QUEUE=settings.task_queue,
        NURTURE_EMAIL_TASK_QUEUE=settings.email_task_queue,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "nurture", "worker"], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


async def test_a_worker_killed_mid_send_does_not_send_twice(stack: Stack, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    # Postmark accepts the email and then answers nothing: the worker is stuck in the send.
    stack.postmark.add_fault("accept_then_hang", seconds=120)
    key = stack.key("receipt")
    first = _worker_process(stack.settings, log)
    try:
        started = await _send(stack, key)
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
    second = _worker_process(stack.settings, log)
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
