"""Starting a campaign's workflow and steering it: pause, resume, cancel, progress."""

from datetime import datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from nurture.campaigns.sending import CampaignInput, CampaignProgress
from nurture.settings import Settings
from nurture.temporal import search_attributes


def campaign_workflow_id(campaign_id: int) -> str:
    """`campaign:{id}`: one send per campaign, ever."""
    return f"campaign:{campaign_id}"


async def start_campaign(
    client: Client,
    settings: Settings,
    *,
    campaign_id: int,
    name: str,
    scheduled_at: datetime | None = None,
    index: bool = True,
) -> WorkflowHandle[Any, CampaignProgress]:
    """Start the campaign's workflow (held until `scheduled_at` if given); its handle (`.id`).

    Raises WorkflowAlreadyStartedError while the campaign's workflow is running. A campaign is
    sent once because its status only ever leaves draft (the API's check), and because each
    recipient's message key (`campaign:{id}:contact:{id}`) goes out at most once, whatever runs.
    """
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(search_attributes.KIND, "campaign"),
            SearchAttributePair(search_attributes.CAMPAIGN_ID, str(campaign_id)),
        ]
    )
    return await client.start_workflow(
        "CampaignWorkflow",
        CampaignInput(
            campaign_id=campaign_id,
            email_task_queue=settings.email_task_queue,
            batch_task_queue=settings.campaign_task_queue,
            in_flight=settings.campaign_batches_in_flight,
            scheduled_at=scheduled_at,
        ),
        id=campaign_workflow_id(campaign_id),
        task_queue=settings.task_queue,
        result_type=CampaignProgress,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=attributes if index else None,
        static_summary=f"Campaign {campaign_id}: {name[:100]}",
    )


async def signal_campaign(client: Client, *, campaign_id: int, signal: str) -> None:
    """Send `pause`, `resume` or `cancel` to the campaign's workflow."""
    await client.get_workflow_handle(campaign_workflow_id(campaign_id)).signal(signal)


async def campaign_progress(client: Client, *, campaign_id: int) -> CampaignProgress:
    """The workflow's own count of where the send is."""
    handle = client.get_workflow_handle(campaign_workflow_id(campaign_id))
    return await handle.query("progress", result_type=CampaignProgress)
