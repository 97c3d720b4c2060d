"""Every workflow and activity the worker runs, registered in one place (tests reuse it)."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.system import SystemActivities
from nurture.temporal import task_queues
from workflows.diagnostics import DiagnosticsWorkflow

WORKFLOWS: list[type] = [DiagnosticsWorkflow]

# Sync activities (database, postmarker) run on this many threads per worker.
ACTIVITY_THREADS = 32


@dataclass(frozen=True)
class WorkerDeps:
    """What activities need from the outside world."""

    database_url: str


def build_activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    """The activity callables, bound to their dependencies."""
    system = SystemActivities(database_url=deps.database_url)
    return [system.check_database]


def build_worker(
    client: Client,
    deps: WorkerDeps,
    *,
    executor: ThreadPoolExecutor,
    task_queue: str = task_queues.MAIN,
) -> Worker:
    """A worker for the main task queue with every workflow and activity."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(deps),
        activity_executor=executor,
        max_concurrent_activities=ACTIVITY_THREADS,
        # On SIGTERM, let running activities (an email send) finish before the worker exits.
        graceful_shutdown_timeout=timedelta(seconds=20),
    )
