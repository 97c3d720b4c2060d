"""Running the command line and leaving without the interpreter's teardown.

A process that used a Temporal client can abort while the interpreter finalizes: the SDK's
Rust threads may release the GIL after Python has torn its thread states down ("Fatal Python
error: PyGILState_Release", temporalio/sdk-python#300, open). The command's work is done by
then, so its exit code is kept, the output and logs flushed, and the teardown skipped.
"""

import logging
import os
import sys
from collections.abc import Callable


def run_and_exit(cli: Callable[[], object]) -> None:
    """Run `cli` (which ends in SystemExit, as click does), then exit with its code at once."""
    code = 0
    try:
        cli()
    except SystemExit as exit:
        if isinstance(exit.code, int):
            code = exit.code
        elif exit.code is not None:
            print(exit.code, file=sys.stderr)
            code = 1
    except BaseException:
        logging.exception("the command failed")
        code = 1
    finally:
        # Spans still batched leave now: os._exit runs no exit handlers. A command that never
        # loaded tracing has none (and need not pay for importing it).
        tracing = sys.modules.get("nurture.observability.tracing")
        if tracing is not None:
            tracing.shutdown()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
