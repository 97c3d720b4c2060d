"""MessageWorkflow: one durable send of one email, outside automations and campaigns."""

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from nurture.schemas.email import GiveUp, MessageStatus, SendRequest, SendResult
    from nurture.temporal import task_queues

# Transient provider failures retry for a day with growing pauses; each retry of a key whose
# outcome is unknown first asks the provider whether the last attempt went through.
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=0,
)
# Liveness only: the ledger's lease, not this timeout, keeps two attempts from both sending.
SEND_TIMEOUT = timedelta(seconds=30)
SEND_DEADLINE = timedelta(days=1)
# Closing an abandoned key waits, if it must, for the last attempt's lease to run out.
GIVE_UP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=1))
# A copy in a mailbox's Sent folder is worth a few tries, not a day's.
SENT_COPY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=5)


class MessageInput(BaseModel):
    """The email to send, and the task queue of the workers that send email."""

    request: SendRequest
    email_task_queue: str = task_queues.EMAIL


def workflow_id_for(key: str) -> str:
    """The workflow id of the send with this message key."""
    return f"message:{key}"


@workflow.defn
class MessageWorkflow:
    """Sends one email through the pipeline and returns what became of it."""

    @workflow.run
    async def run(self, input: MessageInput) -> SendResult:
        """Run the send activity on the email task queue until it has a final answer."""
        request = input.request.model_copy(update={"workflow_id": workflow.info().workflow_id})
        # A 1:1 email through a connected mailbox goes over SMTP, and a copy into its Sent folder.
        mailbox = request.via_mailbox
        try:
            result = await workflow.execute_activity(
                "send_mailbox_email" if mailbox else "send_email",
                request,
                result_type=SendResult,
                task_queue=input.email_task_queue,
                start_to_close_timeout=SEND_TIMEOUT,
                schedule_to_close_timeout=SEND_DEADLINE,
                retry_policy=SEND_RETRY,
            )
        except ActivityError as error:
            # Out of time or a bug: close the key in the ledger rather than leave it `sending`.
            why = str(error.cause or error)
            return await workflow.execute_activity(
                "give_up_mailbox_send" if mailbox else "give_up_send",
                GiveUp(request=request, why=why),
                result_type=SendResult,
                task_queue=input.email_task_queue,
                start_to_close_timeout=SEND_TIMEOUT,
                schedule_to_close_timeout=timedelta(hours=1),
                retry_policy=GIVE_UP_RETRY,
            )
        if mailbox and result.status == MessageStatus.SENT and result.message_id is not None:
            try:
                await workflow.execute_activity(
                    "save_sent_copy",
                    result.message_id,
                    result_type=bool,
                    task_queue=input.email_task_queue,
                    start_to_close_timeout=SEND_TIMEOUT,
                    retry_policy=SENT_COPY_RETRY,
                )
            except ActivityError:
                # The email is sent; only the copy in the user's Sent folder is missing.
                workflow.logger.warning("no copy of message %s in its Sent folder", result.message_id)
        return result
