"""`python -m bench`: every benchmark in turn, each on servers of its own; the figures to BENCHMARKS.md.

    .venv/bin/python -m bench [--quick] [--database-url URL] [--campaign-workers 2] [--output PATH]
        [--contacts N] [--latency-runs N] [--recipients N] [--raw-rounds N] [--sends N] [--warmup N]
        [--waiting-runs N]

Full sizes are those the targets are set for. --quick runs every benchmark small (a few minutes in
all), and any size given by hand replaces its full or quick value; either way BENCHMARKS.md then
says "quick run". A benchmark that fails is written as failed and the others still run; the exit
status is 1 if any failed (a missed target is a figure, not a failure).
"""

import argparse
import asyncio
import dataclasses
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import automations, campaigns, transactional, waiting_runs
from bench.machine import ROOT, this_machine
from bench.report import render, tally
from bench.results import BenchmarkRun
from nurture.temporal.binaries import DEV_SERVER_DYNAMIC_CONFIG


@dataclass(frozen=True)
class Sizes:
    """How much each benchmark does. The defaults are the sizes the targets are set for."""

    contacts: int = 2_000
    latency_runs: int = 200
    recipients: int = 100_000
    raw_rounds: int = 3
    sends: int = 1_000
    warmup: int = 50
    waiting_runs: int = 10_000


FULL = Sizes()
# Each still measures what its target needs: 3,000 waiting runs pass the worker's cache of 1,000
# (1,000 would fit in it, and the memory target could not be checked).
QUICK = Sizes(
    contacts=400,
    latency_runs=50,
    recipients=2_000,
    raw_rounds=1,
    sends=100,
    warmup=10,
    waiting_runs=3_000,
)

Benchmark = Callable[[], Coroutine[Any, Any, BenchmarkRun]]


def benchmarks(
    sizes: Sizes, *, database_url: str | None, campaign_workers: int
) -> list[tuple[str, Benchmark]]:
    """Each benchmark's name and how to run it at these sizes, as its own command-line defaults do."""
    return [
        ("automations", lambda: automations.main(sizes.contacts, sizes.latency_runs, database_url)),
        (
            "campaigns",
            lambda: campaigns.main(sizes.recipients, database_url, sizes.raw_rounds, False, campaign_workers),
        ),
        (
            "transactional",
            lambda: transactional.main(
                sends=sizes.sends,
                warmup=sizes.warmup,
                pause_ms=0,
                database_url=database_url,
                keep=False,
                dynamic_config=list(DEV_SERVER_DYNAMIC_CONFIG),
            ),
        ),
        ("waiting runs", lambda: waiting_runs.main(sizes.waiting_runs, 1_000, database_url, False)),
    ]


def run_all(named: list[tuple[str, Benchmark]]) -> list[BenchmarkRun]:
    """Run each in turn, on an event loop of its own; a failure is recorded and the next one runs."""
    runs = []
    for name, benchmark in named:
        print(f"\n== {name}", flush=True)
        began = time.perf_counter()
        try:
            run = asyncio.run(benchmark())
        except Exception as exc:  # one broken benchmark should not cost the others' figures
            traceback.print_exc()
            run = BenchmarkRun(name, "did not finish", error=f"{type(exc).__name__}: {exc}")
        run.seconds = time.perf_counter() - began
        runs.append(run)
    return runs


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run every benchmark, write the report; the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a check that all runs")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file per benchmark")
    parser.add_argument(
        "--campaign-workers", type=int, default=2, help="worker processes for campaigns (one per core here)"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    for size in dataclasses.fields(Sizes):
        parser.add_argument(f"--{size.name.replace('_', '-')}", type=int, default=None, metavar="N")
    args = parser.parse_args(argv)
    given = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(Sizes) if getattr(args, f.name) is not None
    }
    # Every size counts something there must be one of, but warm-up sends may be none.
    if any(value < (0 if name == "warmup" else 1) for name, value in given.items()):
        parser.error("sizes must be at least 1 (--warmup at least 0)")
    if args.campaign_workers < 1:
        parser.error("--campaign-workers must be at least 1")
    sizes = dataclasses.replace(QUICK if args.quick else FULL, **given)

    started, began = datetime.now(UTC), time.perf_counter()
    runs = run_all(benchmarks(sizes, database_url=args.database_url, campaign_workers=args.campaign_workers))
    text = render(
        runs,
        machine=this_machine(),
        started=started,
        seconds=time.perf_counter() - began,
        quick=sizes != FULL,
    )
    args.output.write_text(text + "\n")
    print(f"\nwrote {args.output}{' (quick run)' if sizes != FULL else ''}: {tally(runs)}")
    return 1 if any(run.error is not None for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
