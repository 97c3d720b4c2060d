"""A dev-server stack for one-off sends: settings, the API with a key, the local Postmark server,
a contact and a transactional template (the fixtures that build it are in conftest.py)."""

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from nurture.postmark_server import RunningServer
from nurture.schemas.email import METADATA_KEY
from nurture.settings import Settings


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


async def send(stack: Stack, key: str, **query: str) -> httpx.Response:
    # The TestClient blocks; run it off the loop the in-process worker polls on.
    return await asyncio.to_thread(stack.send, key, **query)


def worker_process(settings: Settings, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """`nurture worker` as a process of its own on these settings' queues, logging to `log`, with
    `env` on top (NURTURE_WORKER_METRICS_ADDRESS, say)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    environment.update(
        NURTURE_DATABASE_URL=settings.resolved_database_url,
        NURTURE_DATA_DIR=str(settings.data_dir),
        NURTURE_TEMPORAL_ADDRESS=settings.temporal_address,
        NURTURE_POSTMARK_API_URL=settings.postmark_api_url,
        NURTURE_POSTMARK_SERVER_TOKEN=settings.postmark_server_token,
        # Its lease (two calls of 5 + 5 s, plus a margin) runs out soon after Temporal's 30 s timeout.
        NURTURE_POSTMARK_TIMEOUT="5",
        NURTURE_TASK_QUEUE=settings.task_queue,
        NURTURE_EMAIL_TASK_QUEUE=settings.email_task_queue,
        **env,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "nurture", "worker"],
        env=environment,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
