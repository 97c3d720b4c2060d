"""A send that cannot get through for a day is closed as failed, on the time-skipping server."""

import uuid

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from nurture.crud.templates import create_template
from nurture.db.models import Contact, Message
from nurture.db.session import session_factory, transaction
from nurture.schemas.email import MessageStatus, SendRequest, TemplateKind
from nurture.settings import Settings
from tests.workflows.histories import record
from workers.registration import WorkerDeps, running_workers
from workflows.message import MessageInput, MessageWorkflow


async def test_a_key_postmark_never_answers_for_is_failed_after_a_day(
    settings: Settings, time_skipping: WorkflowEnvironment
) -> None:
    run = uuid.uuid4().hex[:8]
    # Nothing listens on port 1: every attempt is refused, so nothing can have been sent.
    settings = settings.model_copy(
        update={
            "postmark_api_url": "http://127.0.0.1:1/",
            "task_queue": f"t-{run}",
            "email_task_queue": f"e-{run}",
        }
    )
    with transaction(session_factory(settings.resolved_database_url)) as session:
        contact = Contact(email="ada@example.com")
        session.add(contact)
        template = create_template(
            session,
            name="Receipt",
            kind=TemplateKind.TRANSACTIONAL,
            subject="Receipt",
            html_body="<p>Thanks</p>",
        )
        session.flush()
        request = SendRequest(key=f"receipt-{run}", template_id=template.id, contact_id=contact.id)

    client = time_skipping.client
    async with running_workers(client, WorkerDeps(settings=settings)):
        result = await client.execute_workflow(
            MessageWorkflow.run,
            MessageInput(request=request, email_task_queue=settings.email_task_queue),
            id=f"message:{request.key}",
            task_queue=settings.task_queue,
        )
        await record(client, workflow_id=f"message:{request.key}", name="message_gave_up")

    assert result.status == MessageStatus.FAILED
    assert (result.reason or "").startswith("gave up: ")
    with session_factory(settings.resolved_database_url)() as session:
        message = session.scalar(select(Message).where(Message.key == request.key))
        assert message is not None and message.status == MessageStatus.FAILED
        assert message.attempts > 10 and message.lease_owner is None
