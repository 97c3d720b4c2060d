"""The worker process: connects to Temporal (waiting for it), runs until SIGINT or SIGTERM."""

import asyncio
import logging
import signal

from temporalio.client import Client

from nurture.settings import Settings
from nurture.temporal.client import connect
from workers.registration import WorkerDeps, running_workers

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
    async with running_workers(client, deps) as (worker, email_worker):
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
