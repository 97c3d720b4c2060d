"""The one function that tells whoever waits on a message what happened to it."""

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from nurture.db.models import Message, MessageEvent
from nurture.schemas.email import ENGAGEMENT_SIGNAL, Engagement


def engagement_of(message: Message, event: MessageEvent) -> Engagement:
    """The signal payload for an event recorded on a message."""
    return Engagement(
        message_id=message.id,
        message_key=message.key,
        type=event.type,
        occurred_at=event.occurred_at,
        url=event.url,
        machine=event.machine_reason,
    )


async def deliver_engagement(client: Client, *, workflow_id: str | None, engagement: Engagement) -> bool:
    """Signal the workflow that sent the message; False if there is none or it has finished.

    The event is already recorded in the database before this is called, so a workflow that
    was not running (or a signal lost with Temporal down) can still read it there.
    """
    if not workflow_id:
        return False
    try:
        await client.get_workflow_handle(workflow_id).signal(ENGAGEMENT_SIGNAL, engagement)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
