"""Starting the message workflow of one send, once per key, and answering where to follow it."""

import asyncio
import contextlib
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from nurture.schemas.email import SendRequest
from nurture.settings import Settings
from nurture.temporal import search_attributes
from workflows.message import MessageInput, MessageWorkflow, workflow_id_for

# How long `?wait=true` waits for the worker before answering anyway.
WAIT_SECONDS = 30.0


async def start_send(
    temporal: Client,
    settings: Settings,
    *,
    send: SendRequest,
    summary: str,
    wait: bool,
    memo: dict[str, Any] | None = None,
) -> tuple[WorkflowHandle[Any, Any], bool]:
    """Start the send's workflow (`message:{key}`); the handle, and False if the key was used before.

    Args:
        temporal: the client.
        settings: where the workflow and the email activities run.
        send: the email; its key is the workflow's id.
        summary: what the Temporal UI shows for the run (no personal data).
        wait: wait (up to 30 s) until the worker has handled a newly started send.
        memo: kept on the run, readable when the key comes again.
    """
    try:
        handle = await temporal.start_workflow(
            MessageWorkflow.run,
            MessageInput(request=send, email_task_queue=settings.email_task_queue),
            id=workflow_id_for(send.key),
            task_queue=settings.task_queue,
            # A key is sent once, ever: a second start with it reports the first.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=search_attributes.message_attributes(contact_id=send.contact_id),
            static_summary=summary,
            memo=memo,
        )
    except WorkflowAlreadyStartedError:
        return temporal.get_workflow_handle(workflow_id_for(send.key)), False
    if wait:
        # Not sent within the wait (or failed): the answer says so through its status.
        with contextlib.suppress(TimeoutError, WorkflowFailureError):
            await asyncio.wait_for(handle.result(), timeout=WAIT_SECONDS)
    return handle, True
