"""MailboxSyncWorkflow: reads a connected mailbox's replies, every minute, for as long as it is
connected (`mailbox:{user_id}`)."""

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from nurture.schemas.mailbox import SyncResult

# A reply reaches its contact's Emails list (and a waiting "replied" branch) within this.
SYNC_EVERY = timedelta(minutes=1)
# An IMAP server that is down is retried with growing pauses, up to this apart.
SYNC_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=10)
)
# Syncs per run before continuing as new: the history stays short for a mailbox connected for years.
SYNCS_PER_RUN = 500


class MailboxSyncInput(BaseModel):
    """Whose mailbox, and how often to look."""

    user_id: int
    every_seconds: float = SYNC_EVERY.total_seconds()


def workflow_id_for(user_id: int) -> str:
    """The sync of this user's mailbox."""
    return f"mailbox:{user_id}"


@workflow.defn
class MailboxSyncWorkflow:
    """Syncs until the mailbox is disconnected; the mailbox row, not this run, holds where it stands."""

    @workflow.run
    async def run(self, input: MailboxSyncInput) -> int:
        """Sync, wait, repeat; returns how many replies this run recorded once disconnected."""
        recorded = 0
        for _ in range(SYNCS_PER_RUN):
            result = await workflow.execute_activity(
                "sync_mailbox",
                input.user_id,
                result_type=SyncResult,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=SYNC_RETRY,
            )
            recorded += result.recorded
            for dispatch in result.dispatches:
                # The reply is recorded: starting what it triggers is retried until it is done.
                await workflow.execute_activity(
                    "dispatch_contact_change",
                    dispatch,
                    result_type=list[str],
                    start_to_close_timeout=timedelta(minutes=1),
                )
            if not result.connected:
                return recorded
            if not result.more:
                await workflow.sleep(timedelta(seconds=input.every_seconds))
        workflow.continue_as_new(input)
