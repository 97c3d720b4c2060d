"""Fixtures of the end-to-end send tests: the message stack and an in-process worker for it."""

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi.testclient import TestClient
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from nurture.crud.api_keys import create_api_key
from nurture.crud.templates import create_template
from nurture.db.models import Contact
from nurture.db.session import session_factory, transaction
from nurture.postmark_server import RunningServer
from nurture.schemas.email import TemplateKind
from nurture.settings import Settings
from tests.isolated import isolated
from tests.workflows.message_stack import Stack
from workers.registration import WorkerDeps, running_workers


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
        mailbox_sync_seconds=0.5,
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
