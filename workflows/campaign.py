"""CampaignWorkflow: one campaign's send, from its scheduled time to its last batch.

The audience is fixed by an activity when sending starts (recipients get positions in the
database, never in history); batches are ranges of positions, sent by an activity on the email
task queue through the send pipeline, a few at a time and no faster than the send rate. An A/B
test sends its sample first, waits, chooses the winner and sends it to the rest. Sent in each
contact's time zone, the recipients come in a few waves, each a range of positions sent when its
moment comes. Pause holds new batches (those in flight finish); cancel stops them for good. A
batch that fails for a day is given up (its recipients closed as failed, or sent if Postmark has
them) and the rest goes on. The counts are the workflow's state, queried as `progress`, shown in
the Temporal UI, carried across continue-as-new.
"""

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from nurture.campaigns.sending import (
        MAX_BATCH,
        BatchCounts,
        CampaignBatch,
        CampaignFinish,
        CampaignInput,
        CampaignPlan,
        CampaignProgress,
        CampaignState,
    )

# Continue as new after this many batches (500 each: 50,000 recipients), so history stays small.
BATCHES_PER_RUN = 100
DB_TIMEOUT = timedelta(minutes=2)
# A batch of 500 sends in seconds; retries (a Postmark outage) may go on for a day, growing to one
# every 10 minutes; then the batch is given up. A batch heartbeats from a thread of its own while it
# runs, so one whose worker died is retried after HEARTBEAT, not after the whole BATCH_TIMEOUT.
BATCH_TIMEOUT = timedelta(minutes=5)
BATCH_DEADLINE = timedelta(days=1)
HEARTBEAT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
BATCH_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=10))


@workflow.defn
class CampaignWorkflow:
    """Sends one campaign in batches, with schedule, pause, resume, cancel, rate and A/B test."""

    @workflow.init
    def __init__(self, input: CampaignInput) -> None:
        self._input = input
        self._state = input.state or CampaignState()
        self._status = "scheduled" if input.state is None and input.scheduled_at else "sending"
        self._in_flight = 0
        self._batches_here = 0

    @workflow.signal
    def pause(self) -> None:
        """Hold new batches until resumed; batches in flight finish."""
        self._state.paused = True

    @workflow.signal
    def resume(self) -> None:
        """Carry on after a pause."""
        self._state.paused = False

    @workflow.signal
    def cancel(self) -> None:
        """Stop for good: no batch starts after this; the rest of the audience gets nothing."""
        self._state.cancelled = True

    @workflow.query
    def progress(self) -> CampaignProgress:
        """How far the send is: recipients, handed to batches, and what became of them."""
        state = self._state
        status = "paused" if state.paused and self._status == "sending" else self._status
        return CampaignProgress(
            status=status,
            recipients=state.plan.recipients if state.plan else None,
            handed_out=state.next_position,
            counts=state.counts,
            winner=state.winner,
        )

    @workflow.run
    async def run(self, input: CampaignInput) -> CampaignProgress:
        """Wait for the schedule, fix the audience, send every batch, record how it ended."""
        state = self._state
        if state.plan is None:
            due = input.scheduled_at - workflow.now() if input.scheduled_at else timedelta(0)
            if not await self._wait_unless_cancelled(due):
                return await self._finish("cancelled", "cancelled before it was due")
            self._status = "sending"
            state.started_at = workflow.now()
            state.plan = await workflow.execute_activity(
                "fix_campaign_audience",
                input.campaign_id,
                result_type=CampaignPlan,
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=RETRY,
            )
        plan = state.plan
        if plan.waves:  # never with an A/B test
            return await self._send_waves(plan)
        if plan.sample and state.next_position < plan.sample:
            await self._send_range(plan, plan.sample)
            if state.cancelled:
                return await self._finish("cancelled", "cancelled during the A/B test")
            if not await self._wait_unless_cancelled(timedelta(seconds=plan.wait_seconds)):
                return await self._finish("cancelled", "cancelled while the A/B test was waiting")
        if plan.sample and state.winner is None:
            state.winner = await workflow.execute_activity(
                "choose_campaign_winner",
                input.campaign_id,
                result_type=int,
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=RETRY,
            )
        await self._send_range(plan, plan.recipients)
        if state.cancelled:
            return await self._finish("cancelled", "cancelled while sending")
        return await self._finish("sent", self._failures())

    async def _send_waves(self, plan: CampaignPlan) -> CampaignProgress:
        """Send each wave of recipients when its moment comes; a moment already past, at once."""
        for wave in plan.waves:
            if self._state.next_position >= wave.end:
                continue  # sent before a continue-as-new
            self._show_progress(f"next wave at {wave.send_at.isoformat()}")
            if not await self._wait_unless_cancelled(wave.send_at - workflow.now()):
                break
            await self._send_range(plan, wave.end)
            if self._state.cancelled:
                break
        if self._state.cancelled:
            return await self._finish("cancelled", "cancelled while sending in each contact's time zone")
        return await self._finish("sent", self._failures())

    def _failures(self) -> str | None:
        """Why a sent campaign has failed recipients, if it has."""
        state = self._state
        if not state.counts.failed:
            return None
        total = state.plan.recipients if state.plan else 0
        reason = f"{state.counts.failed} of {total} recipients failed"
        given_up = state.batches_given_up
        if given_up:
            batches = f"{given_up} batch was" if given_up == 1 else f"{given_up} batches were"
            reason += f"; {batches} given up after a day of sending errors"
        return reason

    async def _wait_unless_cancelled(self, delay: timedelta) -> bool:
        """Wait `delay` (a durable timer); False if cancelled meanwhile."""
        if delay > timedelta(0):
            with contextlib.suppress(TimeoutError):  # the time came: not cancelled
                await workflow.wait_condition(lambda: self._state.cancelled, timeout=delay)
        return not self._state.cancelled

    async def _send_range(self, plan: CampaignPlan, end: int) -> None:
        """Hand out batches up to position `end`, then wait for all of them."""
        state = self._state
        size = min(MAX_BATCH, plan.send_rate) if plan.send_rate else MAX_BATCH
        # At a send rate, one batch per this interval; otherwise as fast as the batches return.
        interval = timedelta(minutes=size / plan.send_rate) if plan.send_rate else None
        tasks: list[asyncio.Task[None]] = []
        while state.next_position < end:
            await workflow.wait_condition(
                lambda: state.cancelled or (not state.paused and self._in_flight < self._input.in_flight)
            )
            if state.cancelled:
                break
            if self._batches_here >= BATCHES_PER_RUN:
                await self._drain(tasks)
                workflow.continue_as_new(self._input.model_copy(update={"state": state}))
            batch = CampaignBatch(
                campaign_id=self._input.campaign_id,
                first=state.next_position,
                end=min(end, state.next_position + size),
                workflow_id=workflow.info().workflow_id,
            )
            state.next_position = batch.end
            self._batches_here += 1
            # Counted here, not when the task first runs: the next turn of the loop must see it.
            self._in_flight += 1
            tasks.append(asyncio.create_task(self._send(batch)))
            if interval is not None:
                await self._wait_unless_cancelled(interval)
        await self._drain(tasks)

    async def _drain(self, tasks: list[asyncio.Task[None]]) -> None:
        await workflow.wait_condition(lambda: self._in_flight == 0)
        for task in tasks:
            task.result()  # only a batch that could not even be given up (a bug) fails the run, visibly

    async def _send(self, batch: CampaignBatch) -> None:
        try:
            try:
                counts = await self._batch(batch, deadline=BATCH_DEADLINE)
            except ActivityError as error:
                # A day of failures (or a bug): close the batch's keys and go on with the rest.
                why = str(error.cause or error)
                counts = await self._batch(batch.model_copy(update={"give_up": why}), deadline=None)
                self._state.batches_given_up += 1
        finally:
            self._in_flight -= 1
        self._state.counts.add(counts)
        self._show_progress()

    async def _batch(self, batch: CampaignBatch, *, deadline: timedelta | None) -> BatchCounts:
        # Giving up has no deadline: it must learn from Postmark whether the keys went out.
        return await workflow.execute_activity(
            "send_campaign_batch",
            batch,
            result_type=BatchCounts,
            task_queue=self._input.batch_task_queue or self._input.email_task_queue,
            start_to_close_timeout=BATCH_TIMEOUT,
            schedule_to_close_timeout=deadline,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=BATCH_RETRY,
        )

    def _show_progress(self, then: str | None = None) -> None:
        """The count the Temporal UI shows as the run's current details."""
        plan = self._state.plan
        total = plan.recipients if plan else 0
        details = f"{self._state.counts.done} of {total} recipients done"
        workflow.set_current_details(f"{details}; {then}" if then else details)

    async def _finish(self, status: str, reason: str | None) -> CampaignProgress:
        self._status = status
        await workflow.execute_activity(
            "finish_campaign",
            CampaignFinish(
                campaign_id=self._input.campaign_id, status=status, counts=self._state.counts, reason=reason
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=RETRY,
        )
        return self.progress()
