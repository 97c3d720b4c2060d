"""DateTriggerWorkflow: once a day (started by the `nurture-date-triggers` Schedule), enroll contacts
whose date field, plus a trigger's offset, is that day.

The day is the schedule's scheduled time (so a day caught up after Temporal was down is still that
day), else the workflow's start; days are calendar days in UTC, and so are the field dates compared
with them. For each active automation whose newest version has date triggers, due contacts come from
the database a page at a time (never the whole audience in history) and each page is enrolled by
the bulk enrollment's `enroll_contacts` activity: the entry rule decides, so running a day twice
starts nobody twice under `once`.
"""

from datetime import UTC, date, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from nurture.automations.bulk import BatchRequest, BatchResult, EnrollmentProgress
    from nurture.automations.date_triggers import (
        DateAutomation,
        DatePage,
        DatePageRequest,
        DateTriggerInput,
        DateTriggerProgress,
    )

# Set by Temporal on every workflow a schedule starts: the time it was due, not when it started.
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
PAGE_TIMEOUT = timedelta(seconds=60)
# A page of 500 at 20 at a time takes seconds; the heartbeat says it is alive meanwhile.
BATCH_TIMEOUT = timedelta(minutes=15)
BATCH_HEARTBEAT = timedelta(seconds=60)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


def _day(input: DateTriggerInput) -> date:
    if input.day is not None:
        return input.day
    scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
    return (scheduled or workflow.now()).astimezone(UTC).date()


@workflow.defn
class DateTriggerWorkflow:
    """Runs one day's date triggers over every automation that has them, keeping counts."""

    @workflow.init
    def __init__(self, input: DateTriggerInput) -> None:
        self._progress = input.progress or DateTriggerProgress(day=_day(input), started_at=workflow.now())

    @workflow.query
    def progress(self) -> DateTriggerProgress:
        """The day, the automations found, and each one's counts so far; `done` once all are through."""
        return self._progress

    @workflow.run
    async def run(self, input: DateTriggerInput) -> DateTriggerProgress:
        """Enroll the contacts due today into each automation with date triggers, page by page."""
        progress = self._progress
        if progress.automations is None:
            progress.automations = await workflow.execute_activity(
                "date_triggered_automations",
                result_type=list[DateAutomation],
                start_to_close_timeout=PAGE_TIMEOUT,
                retry_policy=RETRY,
            )
        pages_here = 0
        for index, automation in enumerate(progress.automations):
            if index == len(progress.enrollments):
                progress.enrollments.append(
                    EnrollmentProgress(automation_id=automation.automation_id, started_at=workflow.now())
                )
            current = progress.enrollments[index]
            while not current.done:
                if pages_here >= input.pages_per_run or workflow.info().is_continue_as_new_suggested():
                    # The day is fixed now: the next run may start after midnight.
                    workflow.continue_as_new(
                        input.model_copy(update={"day": progress.day, "progress": progress})
                    )
                await self._page(input, automation, current)
                pages_here += 1
        progress.done = True
        progress.finished_at = workflow.now()
        return progress

    async def _page(
        self, input: DateTriggerInput, automation: DateAutomation, current: EnrollmentProgress
    ) -> None:
        page: DatePage = await workflow.execute_activity(
            "date_trigger_page",
            DatePageRequest(
                triggers=automation.triggers,
                day=self._progress.day,
                after_id=current.cursor,
                limit=input.page_size,
            ),
            result_type=DatePage,
            start_to_close_timeout=PAGE_TIMEOUT,
            retry_policy=RETRY,
        )
        current.cursor = page.cursor
        current.pages += 1
        current.done = page.exhausted
        if page.contact_ids:
            batch: BatchResult = await workflow.execute_activity(
                "enroll_contacts",
                BatchRequest(
                    automation_id=automation.automation_id,
                    contact_ids=page.contact_ids,
                    concurrency=input.concurrency,
                    index=input.index,
                ),
                result_type=BatchResult,
                start_to_close_timeout=BATCH_TIMEOUT,
                heartbeat_timeout=BATCH_HEARTBEAT,
                retry_policy=RETRY,
            )
            current.count(batch)
            current.contacts_seen += len(page.contact_ids)
            if batch.refused.get("inactive", 0) == len(page.contact_ids):
                # Paused or archived meanwhile: the rest would be refused the same way.
                current.stopped = f"automation {automation.automation_id} is no longer active"
                current.done = True
        if current.done:
            current.finished_at = workflow.now()
