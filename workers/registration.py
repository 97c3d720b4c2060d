"""Every workflow and activity the worker runs, registered in one place (tests reuse it)."""

from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.automations import AutomationActivities
from activities.campaign_sends import CampaignSendActivities
from activities.campaigns import CampaignActivities
from activities.contact_changes import ContactChangeActivities
from activities.date_triggers import DateTriggerActivities
from activities.email import EmailActivities
from activities.enrollment import EnrollmentActivities
from activities.mailboxes import MailboxActivities
from activities.system import SystemActivities
from nurture.db.session import session_factory
from nurture.email.pipeline import SendPipeline
from nurture.email.postmark import PostmarkProvider
from nurture.observability.send_counter import SendCounter
from nurture.settings import Settings
from nurture.temporal import task_queues
from workers.bytecode import cache_workflow_bytecode
from workers.schedules import ensure_date_trigger_schedule
from workflows.automation_run import AutomationRunWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.date_triggers import DateTriggerWorkflow
from workflows.diagnostics import DiagnosticsWorkflow
from workflows.enrollment import EnrollmentWorkflow
from workflows.mailbox_sync import MailboxSyncWorkflow
from workflows.message import MessageWorkflow

WORKFLOWS: list[type] = [
    DiagnosticsWorkflow,
    MessageWorkflow,
    AutomationRunWorkflow,
    EnrollmentWorkflow,
    DateTriggerWorkflow,
    CampaignWorkflow,
    MailboxSyncWorkflow,
]

# Sync activities (database, postmarker) run on this many threads per worker.
ACTIVITY_THREADS = 32
# Sends in flight at once per worker: the one place that bounds the load on the provider.
EMAIL_CONCURRENCY = 16
# Campaign batches per worker process: one renders while the other waits on Postmark or the
# database. More would only share the process's one core (its GIL) and starve other workers.
CAMPAIGN_BATCHES_PER_WORKER = 2
# On SIGTERM, let running activities (an email send) finish before the worker exits.
GRACEFUL_SHUTDOWN = timedelta(seconds=20)


@dataclass(frozen=True)
class WorkerDeps:
    """What activities need from the outside world: the settings they are built from, and the
    counter of emails sent (on the worker's runtime; none where nothing serves metrics)."""

    settings: Settings
    counter: SendCounter | None = None

    @property
    def database_url(self) -> str:
        """The application database."""
        return self.settings.resolved_database_url

    @cached_property
    def pipeline(self) -> SendPipeline:
        """The send pipeline through Postmark: one per worker process, for single sends and
        campaign batches alike (one Postmark client, one pool of connections)."""
        settings = self.settings
        provider = PostmarkProvider(
            server_token=settings.postmark_server_token,
            api_url=settings.postmark_api_url,
            timeout=settings.postmark_timeout,
        )
        return SendPipeline(
            sessions=session_factory(self.database_url),
            settings=settings,
            provider=provider,
            counter=self.counter,
        )


def build_activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    """The main task queue's activity callables, bound to their dependencies."""
    system = SystemActivities(database_url=deps.database_url)
    sessions = session_factory(deps.database_url)
    runs = AutomationActivities(sessions=sessions, settings=deps.settings)
    enrollments = EnrollmentActivities(sessions=sessions, settings=deps.settings)
    dates = DateTriggerActivities(sessions=sessions)
    contact_steps = ContactChangeActivities(sessions=sessions, settings=deps.settings)
    campaigns = CampaignActivities(sessions=sessions)
    mailboxes = MailboxActivities(sessions=sessions, settings=deps.settings, counter=deps.counter)
    return [
        system.check_database,
        runs.enter_step,
        runs.finish_run,
        contact_steps.change_contact,
        contact_steps.dispatch_contact_change,
        runs.call_webhook,
        runs.next_time_of_day,
        runs.start_automation_for_contact,
        enrollments.enrollment_page,
        enrollments.enroll_contacts,
        dates.date_triggered_automations,
        dates.date_trigger_page,
        campaigns.fix_campaign_audience,
        campaigns.choose_campaign_winner,
        campaigns.finish_campaign,
        mailboxes.sync_mailbox,
        mailboxes.owner_sender,
    ]


def build_email_activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    """The email task queue's activities: the send pipeline through Postmark, and through users'
    connected mailboxes."""
    settings = deps.settings
    sessions = session_factory(deps.database_url)
    activities = EmailActivities(deps.pipeline)
    campaign_sends = CampaignSendActivities(sessions=sessions, pipeline=deps.pipeline)
    mailboxes = MailboxActivities(sessions=sessions, settings=settings, counter=deps.counter)
    return [
        # Also here for campaign runs started before batches had a queue of their own.
        campaign_sends.send_campaign_batch,
        activities.send_email,
        activities.give_up_send,
        activities.send_email_batch,
        activities.give_up_send_batch,
        mailboxes.send_mailbox_email,
        mailboxes.give_up_mailbox_send,
        mailboxes.save_sent_copy,
    ]


def build_worker(
    client: Client,
    deps: WorkerDeps,
    *,
    executor: ThreadPoolExecutor,
    task_queue: str = task_queues.MAIN,
) -> Worker:
    """A worker for the main task queue with every workflow and the general activities."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(deps),
        activity_executor=executor,
        max_concurrent_activities=ACTIVITY_THREADS,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


def build_email_worker(
    client: Client,
    deps: WorkerDeps,
    *,
    executor: ThreadPoolExecutor,
    task_queue: str = task_queues.EMAIL,
) -> Worker:
    """A worker for the email task queue: only sends, with bounded concurrency."""
    return Worker(
        client,
        task_queue=task_queue,
        activities=build_email_activities(deps),
        activity_executor=executor,
        max_concurrent_activities=EMAIL_CONCURRENCY,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


def build_campaign_batch_worker(client: Client, deps: WorkerDeps, *, executor: ThreadPoolExecutor) -> Worker:
    """A worker for the campaign batch queue: a few batches at once (see `task_queues.campaign_batches`)."""
    return Worker(
        client,
        task_queue=deps.settings.campaign_task_queue,
        activities=[
            CampaignSendActivities(
                sessions=session_factory(deps.database_url), pipeline=deps.pipeline
            ).send_campaign_batch
        ],
        activity_executor=executor,
        max_concurrent_activities=CAMPAIGN_BATCHES_PER_WORKER,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


@asynccontextmanager
async def running_workers(client: Client, deps: WorkerDeps) -> AsyncIterator[tuple[Worker, ...]]:
    """The main, email and campaign batch workers on the settings' task queues, running until
    the block ends.

    Sends get threads of their own: they never queue behind other activities while their
    start-to-close clock runs.
    """
    settings = deps.settings
    cache_workflow_bytecode(WORKFLOWS)
    # Idempotent; a no-op on a server without schedules (the time-skipping test server).
    await ensure_date_trigger_schedule(client, settings)
    with (
        ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor,
        ThreadPoolExecutor(max_workers=EMAIL_CONCURRENCY, thread_name_prefix="send") as sends,
        ThreadPoolExecutor(max_workers=CAMPAIGN_BATCHES_PER_WORKER, thread_name_prefix="batch") as batches,
    ):
        main = build_worker(client, deps, executor=executor, task_queue=settings.task_queue)
        email = build_email_worker(client, deps, executor=sends, task_queue=settings.email_task_queue)
        campaign = build_campaign_batch_worker(client, deps, executor=batches)
        async with main, email, campaign:
            yield main, email, campaign
