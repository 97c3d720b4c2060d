"""The fault suite: each fault in a lab of its own, one after another (full) or all at once (short)."""

import asyncio
import logging
import time
from pathlib import Path
from types import ModuleType

from chaos import (
    automation_kill,
    campaign_kill,
    database_restart,
    provider_faults,
    temporal_restart,
    webhook_replay,
)
from chaos.databases import Backend, Databases
from chaos.lab import Stage
from chaos.results import FaultResult

log = logging.getLogger("chaos")

FAULTS: list[ModuleType] = [
    automation_kill,
    campaign_kill,
    temporal_restart,
    database_restart,
    provider_faults,
    webhook_replay,
]


async def run_fault(stage: Stage, fault: ModuleType) -> FaultResult:
    """Run one fault in a lab of its own; an exception ends it as an error, keeping its checks so far."""
    result = FaultResult(fault.NUMBER, fault.TITLE)
    began = time.monotonic()
    log.info("fault %s (%s) starts", fault.NUMBER, fault.TITLE)
    try:
        async with stage.lab(fault.NAME, own_server=getattr(fault, "OWN_SERVER", False)) as lab:
            try:
                await fault.run(lab, result)
            finally:
                result.timeline = lab.timeline
    # A stuck wait raises CrashFailed (an AssertionError), with the timeline and the worker's log.
    except Exception as exc:
        log.exception("fault %s broke off", fault.NUMBER)
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - began
    log.info("fault %s: %s in %.0f s", fault.NUMBER, result.verdict, result.seconds)
    return result


async def run_suite(
    *, short: bool, backend: Backend, folder: Path, only: set[int] | None = None, together: bool | None = None
) -> list[FaultResult]:
    """Run the faults (those numbered in `only`, or all), each in its own lab.

    `together` runs them at the same time (the default in the short run, to fit CI's time: most
    of a fault's time is waiting for Temporal's timeouts); otherwise one after another.
    """
    faults = [f for f in FAULTS if only is None or f.NUMBER in only]
    together = short if together is None else together
    stage = Stage(
        short=short, databases=Databases(backend, folder), folder=folder, faults=[f.NAME for f in faults]
    )
    async with stage:
        if together:
            return list(await asyncio.gather(*(run_fault(stage, f) for f in faults)))
        return [await run_fault(stage, f) for f in faults]
