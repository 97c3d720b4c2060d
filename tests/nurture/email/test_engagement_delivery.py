"""deliver_engagement on the real dev server: a waiting workflow gets the event, a finished one does not."""

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from nurture.crud.messages import save_links
from nurture.db.base import utcnow
from nurture.db.models import Contact, Message, MessageStatus, TemplateKind
from nurture.db.session import session_factory, transaction
from nurture.email.engagement import deliver_engagement
from nurture.schemas.email import ENGAGEMENT_SIGNAL, METADATA_KEY, Engagement, EngagementType
from nurture.settings import Settings
from nurture.tracking.links import instrument

FIXTURES = Path(__file__).parent.parent.parent / "fixtures" / "postmark"


class WaitInput(BaseModel):
    """How many engagement events to wait for."""

    count: int = 1


@workflow.defn(sandboxed=False)
class WaitForEngagementWorkflow:
    """Stands in for a run that sent an email and waits on what happens to it."""

    def __init__(self) -> None:
        self._received: list[Engagement] = []

    @workflow.signal(name=ENGAGEMENT_SIGNAL)
    def engagement(self, engagement: Engagement) -> None:
        self._received.append(engagement)

    @workflow.run
    async def run(self, input: WaitInput) -> list[Engagement]:
        await workflow.wait_condition(lambda: len(self._received) >= input.count)
        return self._received


def _engagement(**changes: object) -> Engagement:
    values: dict[str, object] = {
        "message_id": 7,
        "message_key": "campaign:3:contact:9",
        "type": EngagementType.CLICKED,
        "occurred_at": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "url": "https://example.com/pricing",
    }
    return Engagement.model_validate(values | changes)


async def _start(env: WorkflowEnvironment, task_queue: str, count: int = 1) -> WorkflowHandle:
    return await env.client.start_workflow(
        WaitForEngagementWorkflow.run,
        WaitInput(count=count),
        id=f"test-{uuid.uuid4()}",
        task_queue=task_queue,
    )


async def test_the_waiting_workflow_gets_the_event(dev_server: WorkflowEnvironment) -> None:
    task_queue = f"test-{uuid.uuid4()}"
    async with Worker(dev_server.client, task_queue=task_queue, workflows=[WaitForEngagementWorkflow]):
        handle = await _start(dev_server, task_queue)
        delivered = await deliver_engagement(
            dev_server.client, workflow_id=handle.id, engagement=_engagement()
        )
        [received] = await asyncio.wait_for(handle.result(), timeout=30)

    assert delivered is True
    assert received.type == EngagementType.CLICKED
    assert received.url == "https://example.com/pricing"
    assert received.message_key == "campaign:3:contact:9"
    assert received.message_id == 7


async def test_a_finished_or_unknown_workflow_is_not_delivered_to(dev_server: WorkflowEnvironment) -> None:
    task_queue = f"test-{uuid.uuid4()}"
    async with Worker(dev_server.client, task_queue=task_queue, workflows=[WaitForEngagementWorkflow]):
        handle = await _start(dev_server, task_queue)
        await deliver_engagement(dev_server.client, workflow_id=handle.id, engagement=_engagement())
        await asyncio.wait_for(handle.result(), timeout=30)

        finished = await deliver_engagement(
            dev_server.client, workflow_id=handle.id, engagement=_engagement()
        )
        unknown = await deliver_engagement(
            dev_server.client, workflow_id=f"message:{uuid.uuid4()}", engagement=_engagement()
        )
        none = await deliver_engagement(dev_server.client, workflow_id=None, engagement=_engagement())

    assert (finished, unknown, none) == (False, False, False)


async def test_a_postmark_webhook_reaches_the_workflow_that_sent_the_message(
    dev_server: WorkflowEnvironment, settings: Settings
) -> None:
    settings = settings.model_copy(
        update={"temporal_address": dev_server.client.service_client.config.target_host}
    )
    task_queue = f"test-{uuid.uuid4()}"
    async with Worker(dev_server.client, task_queue=task_queue, workflows=[WaitForEngagementWorkflow]):
        handle = await _start(dev_server, task_queue, count=2)
        with transaction(session_factory(settings.resolved_database_url)) as session:
            contact = Contact(email="reader@example.com")
            session.add(contact)
            session.flush()
            message = Message(
                key=f"test:{uuid.uuid4()}",
                kind=TemplateKind.MARKETING,
                provider="postmark",
                stream="broadcast",
                contact_id=contact.id,
                to_email=contact.email,
                from_email="news@example.com",
                subject="Hello",
                status=MessageStatus.SENT,
                provider_message_id=str(uuid.uuid4()),
                workflow_id=handle.id,
                sent_at=utcnow(),
            )
            session.add(message)
            session.flush()
            message_id, key = message.id, message.key
            # Postmark sees the links Nurture rewrote: OriginalLink is our click URL, not the target.
            save_links(session, message=message, urls=["https://example.com/pricing"])
            tracked = instrument(
                html=None, text="https://example.com/pricing", message_id=message_id, settings=settings
            )

        click = json.loads((FIXTURES / "click.json").read_text())
        click |= {
            "MessageID": "not-known-yet",
            "Metadata": {METADATA_KEY: key},
            "Recipient": "reader@example.com",
            "OriginalLink": tracked.text,
        }
        token = base64.b64encode(f"{settings.webhook_username}:{settings.webhook_password}".encode()).decode()
        with TestClient(create_app(settings), headers={"Authorization": f"Basic {token}"}) as client:
            # The request runs the app on the client's own loop; this loop keeps the worker going.
            first = await asyncio.to_thread(client.post, "/webhooks/postmark", json=click)
            repeat = await asyncio.to_thread(client.post, "/webhooks/postmark", json=click)
            bounce = json.loads((FIXTURES / "bounce.json").read_text())
            bounce |= {
                "MessageID": "not-known-yet",
                "Metadata": {METADATA_KEY: key},
                "Email": "reader@example.com",
            }
            await asyncio.to_thread(client.post, "/webhooks/postmark", json=bounce)
        received = await asyncio.wait_for(handle.result(), timeout=30)

    assert first.json()["recorded"] is True
    assert repeat.json()["repeat"] is True
    # The repeat is not signalled again: the workflow's second event is the bounce.
    assert [(e.type, e.url, e.message_id, e.message_key) for e in received] == [
        (EngagementType.CLICKED, "https://example.com/pricing", message_id, key),
        (EngagementType.BOUNCED, None, message_id, key),
    ]
