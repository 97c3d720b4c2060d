"""Nurture's fault suite (issue 7): kill, restart and break what a send depends on, then check that
no email was lost or doubled and every run finished.

    .venv/bin/python -m chaos [--short] [--database sqlite|postgresql] [--only 1,3] [--keep]
                              [--output CHAOS.md]

Faults, each in a lab of its own (database, local Postmark server, Temporal namespace, workers):

1. the worker SIGKILLed during automation runs (send, wait 1 s, send), and started again;
2. the worker SIGKILLed during a campaign (the campaign crash test's pieces);
3. the Temporal dev server restarted mid-run, its state in a --db-filename file;
4. the database restarted under load (the full run restarts the PostgreSQL cluster with
   pg_ctlcluster, which breaks other clients of that server: it waits for them to leave first);
5. Postmark answering 429, 500, 503, slowly or not at all for a while (its /__local/faults API);
6. Postmark webhooks delivered twice and out of order.

`--short` is the CI form: smaller, all faults at once (most of a fault's time is spent waiting for
Temporal's timeouts), and never a cluster restart. The full run goes one fault after another.
The table goes to the terminal, the details to `--output` (CHAOS.md); the logs stay in a temporary
folder, kept with --keep or when a fault fails. Exits 1 when a fault fails.
"""

import argparse
import asyncio
import contextlib
import logging
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

from chaos.databases import Databases, default_backend
from chaos.report import markdown, table
from chaos.suite import run_suite


def main() -> int:
    """Parse the arguments, run the suite, print and write the results; the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short", action="store_true", help="the CI form: smaller, all faults at once")
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], help="default: PostgreSQL if reachable"
    )
    parser.add_argument("--only", help="fault numbers to run, comma-separated (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the logs and SQLite files")
    parser.add_argument("--output", type=Path, default=Path("CHAOS.md"), help="where the details go")
    args = parser.parse_args()
    # As pyproject's pytest settings have it: SQLite cannot reflect an expression index (migrations).
    warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
    only = {int(n) for n in args.only.split(",")} if args.only else None
    backend = args.database or default_backend()
    folder = Path(tempfile.mkdtemp(prefix="nurture-chaos-"))
    logging.basicConfig(
        filename=folder / "chaos.log",
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    label = Databases(backend, folder).label
    print(f"chaos{' (short)' if args.short else ''} on {label}; logs in {folder}", flush=True)
    began = time.monotonic()
    # What the servers and libraries print (a Postmark server's traceback when a client gives up on
    # a slow answer, as faults make it) goes to the log folder; the terminal gets the table.
    with (folder / "stderr.log").open("w") as stderr, contextlib.redirect_stderr(stderr):
        results = asyncio.run(run_suite(short=args.short, backend=backend, folder=folder, only=only))
    seconds = time.monotonic() - began
    print(table(results))
    args.output.write_text(markdown(results, short=args.short, database=label, seconds=seconds))
    print(f"details in {args.output}; {seconds:.0f} s in all")
    failed = any(r.passed is False for r in results)
    if failed or args.keep:
        print(f"logs kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
