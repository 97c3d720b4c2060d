"""EnrollmentWorkflow: enroll a list's subscribers or a filtered set of contacts into an automation.

Contact ids come from the database a page at a time (never the whole audience in history); each
page is enrolled by one activity with bounded concurrency. The counts are the workflow's state,
queried as `progress`, carried across continue-as-new and returned at the end.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from nurture.automations.bulk import (
        BatchRequest,
        BatchResult,
        EnrollmentInput,
        EnrollmentProgress,
        PageRequest,
    )

PAGE_TIMEOUT = timedelta(seconds=60)
# A page of 500 at 20 at a time takes seconds; the heartbeat says it is alive meanwhile.
BATCH_TIMEOUT = timedelta(minutes=15)
BATCH_HEARTBEAT = timedelta(seconds=60)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn
class EnrollmentWorkflow:
    """Pages through an audience and enrolls it, keeping counts."""

    @workflow.init
    def __init__(self, input: EnrollmentInput) -> None:
        self._progress = input.progress or EnrollmentProgress(
            automation_id=input.automation_id, started_at=workflow.now()
        )

    @workflow.query
    def progress(self) -> EnrollmentProgress:
        """Counts so far: started, refused by category, failed; `done` once every page is through."""
        return self._progress

    @workflow.run
    async def run(self, input: EnrollmentInput) -> EnrollmentProgress:
        """Enroll page after page until the audience is exhausted (or the automation stops)."""
        progress = self._progress
        pages_here = 0
        while True:
            if pages_here >= input.pages_per_run or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(input.model_copy(update={"progress": progress}))
            ids: list[int] = await workflow.execute_activity(
                "enrollment_page",
                PageRequest(audience=input.audience, after_id=progress.cursor, limit=input.page_size),
                result_type=list[int],
                start_to_close_timeout=PAGE_TIMEOUT,
                retry_policy=RETRY,
            )
            if not ids:
                break
            batch: BatchResult = await workflow.execute_activity(
                "enroll_contacts",
                BatchRequest(
                    automation_id=input.automation_id,
                    contact_ids=ids,
                    concurrency=input.concurrency,
                    index=input.index,
                ),
                result_type=BatchResult,
                start_to_close_timeout=BATCH_TIMEOUT,
                heartbeat_timeout=BATCH_HEARTBEAT,
                retry_policy=RETRY,
            )
            progress.count(batch)
            progress.cursor = ids[-1]
            progress.contacts_seen += len(ids)
            progress.pages += 1
            pages_here += 1
            if batch.refused.get("inactive", 0) == len(ids):
                # Paused or archived meanwhile: the rest would be refused the same way.
                progress.stopped = f"automation {input.automation_id} is no longer active"
                break
            if len(ids) < input.page_size:
                break
        progress.done = True
        progress.finished_at = workflow.now()
        return progress
