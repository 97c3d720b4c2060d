"""Where a campaign's batches go: their own task queue, as many at once as the setting says; a
run started before that queue existed still sends its batches on the email queue."""

from collections import Counter
from collections.abc import AsyncIterator

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from nurture.campaigns.control import campaign_workflow_id
from nurture.campaigns.sending import CampaignInput, CampaignProgress
from nurture.postmark_server import RunningServer
from nurture.settings import Settings
from tests.workflows.campaign_world import Send, campaign_world


@pytest.fixture
async def send(
    settings: Settings, time_skipping: WorkflowEnvironment, postmark_server: RunningServer
) -> AsyncIterator[Send]:
    async with campaign_world(
        settings, time_skipping, postmark_server, campaign_batches_in_flight=3
    ) as world:
        yield world


async def _batches(handle: WorkflowHandle[object, CampaignProgress]) -> tuple[Counter[str], int]:
    """How many batches the run scheduled on each task queue, and how many before one completed."""
    queues: Counter[str] = Counter()
    batch_events: set[int] = set()
    before_first_done = 0
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == "send_campaign_batch":
                queues[scheduled.task_queue.name] += 1
                batch_events.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes.scheduled_event_id
            if done in batch_events and not before_first_done:
                before_first_done = queues.total()
    return queues, before_first_done


async def test_batches_go_to_the_campaign_batch_queue_as_many_at_once_as_set(send: Send) -> None:
    emails = send.contacts(1_800, send.news)
    campaign_id = send.campaign()

    handle = await send.start(campaign_id)
    progress = await handle.result()

    assert progress.counts.sent == 1_800 and send.received() == Counter(dict.fromkeys(emails, 1))
    queue = send.settings.campaign_task_queue
    assert queue == f"{send.settings.email_task_queue}-campaign-batches"
    # Four batches, three at once (the setting): the fourth only once one came back.
    assert await _batches(handle) == (Counter({queue: 4}), 3)


async def test_a_run_started_before_the_batch_queue_sends_on_the_email_queue(send: Send) -> None:
    emails = send.contacts(600, send.news)
    campaign_id = send.campaign()

    # What start_campaign passed before batches had a queue of their own.
    handle = await send.env.client.start_workflow(
        "CampaignWorkflow",
        CampaignInput(campaign_id=campaign_id, email_task_queue=send.settings.email_task_queue),
        id=campaign_workflow_id(campaign_id),
        task_queue=send.settings.task_queue,
        result_type=CampaignProgress,
    )
    progress = await handle.result()

    assert progress.counts.sent == 600 and send.received() == Counter(dict.fromkeys(emails, 1))
    # Four at once, as every run did then.
    assert await _batches(handle) == (Counter({send.settings.email_task_queue: 2}), 2)
