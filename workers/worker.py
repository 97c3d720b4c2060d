"""The worker process: connects to Temporal (waiting for it), runs until SIGINT or SIGTERM.

It logs in NURTURE_LOG_FORMAT, serves the SDK's Prometheus metrics when
NURTURE_WORKER_METRICS_ADDRESS is set, and traces when OTEL_EXPORTER_OTLP_ENDPOINT is.
"""

import asyncio
import logging
import signal

from temporalio.client import Client
from temporalio.runtime import Runtime

from nurture.heap import freeze_startup_objects
from nurture.observability import tracing
from nurture.observability.logs import configure_logging
from nurture.observability.runtime import worker_runtime
from nurture.observability.send_counter import SendCounter
from nurture.settings import Settings
from nurture.temporal.client import connect
from workers.registration import WorkerDeps, running_workers

log = logging.getLogger("nurture.worker")


async def connect_with_retry(
    settings: Settings, *, attempts: int = 60, runtime: Runtime | None = None
) -> Client:
    """Connect to Temporal, retrying each second: in compose and dev it may start after us."""
    for attempt in range(1, attempts + 1):
        try:
            return await connect(settings, runtime=runtime)
        except Exception as exc:
            if attempt == attempts:
                raise
            log.info("Temporal not reachable at %s (%s); retrying", settings.temporal_address, exc)
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def run_worker(settings: Settings) -> None:
    """Run the worker until asked to stop, finishing in-flight activities first."""
    # Made first: a taken metrics port stops the worker before it takes any task.
    runtime = worker_runtime(settings)
    if settings.worker_metrics_address:
        log.info("Serving Temporal SDK metrics at http://%s/metrics", settings.worker_metrics_address)
    tracing.setup(service="nurture-worker")
    client = await connect_with_retry(settings, runtime=runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    deps = WorkerDeps(settings=settings, counter=SendCounter(runtime.metric_meter))
    try:
        async with running_workers(client, deps) as workers:
            queues = ", ".join(worker.task_queue for worker in workers)
            log.info("Worker polling %s on %s", queues, settings.temporal_address)
            frozen = freeze_startup_objects()
            log.debug("%d objects made at startup are out of the garbage collector's scans", frozen)
            await stop.wait()
    finally:
        # The last activities' spans, before the command line's os._exit.
        await asyncio.to_thread(tracing.shutdown)
    log.info("Worker stopped")


def main(settings: Settings) -> None:
    """Entry point for `nurture worker`."""
    configure_logging(settings)
    asyncio.run(run_worker(settings))
