"""The worker process: connects to Temporal (waiting for it), runs until SIGINT or SIGTERM."""

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client

from nurture.settings import Settings
from nurture.temporal.client import connect
from workers.registration import (
    ACTIVITY_THREADS,
    EMAIL_CONCURRENCY,
    WorkerDeps,
    build_email_worker,
    build_worker,
)

log = logging.getLogger("nurture.worker")


async def connect_with_retry(settings: Settings, *, attempts: int = 60) -> Client:
    """Connect to Temporal, retrying each second: in compose and dev it may start after us."""
    for attempt in range(1, attempts + 1):
        try:
            return await connect(settings)
        except Exception as exc:
            if attempt == attempts:
                raise
            log.info("Temporal not reachable at %s (%s); retrying", settings.temporal_address, exc)
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def run_worker(settings: Settings) -> None:
    """Run the worker until asked to stop, finishing in-flight activities first."""
    client = await connect_with_retry(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    deps = WorkerDeps(settings=settings)
    # Sends get threads of their own: they never queue behind other activities while their
    # start-to-close clock runs.
    with (
        ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor,
        ThreadPoolExecutor(max_workers=EMAIL_CONCURRENCY, thread_name_prefix="send") as sends,
    ):
        worker = build_worker(client, deps, executor=executor, task_queue=settings.task_queue)
        email_worker = build_email_worker(client, deps, executor=sends, task_queue=settings.email_task_queue)
        async with worker, email_worker:
            log.info(
                "Worker polling %s and %s on %s",
                worker.task_queue,
                email_worker.task_queue,
                settings.temporal_address,
            )
            await stop.wait()
    log.info("Worker stopped")


def main(settings: Settings) -> None:
    """Entry point for `nurture worker`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Alembic narrates every revision lookup the diagnostics check makes.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    asyncio.run(run_worker(settings))
