"""Compile the workflow modules' bytecode once at worker start.

The workflow sandbox imports a workflow's module afresh for every run it starts. Where Python
writes no bytecode (PYTHONDONTWRITEBYTECODE, as container images often set), each of those
imports compiled the module's source again: a third of the worker's event loop at high enrollment
rates. py_compile writes the cache regardless of that setting; a read-only install is left as is.
"""

import importlib.util
import logging
import py_compile
import sys
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


def cache_workflow_bytecode(workflows: Iterable[type]) -> int:
    """Write up-to-date bytecode for the packages of these workflows' modules (a workflow module
    imports its siblings inside the sandbox too); returns how many files were compiled."""
    folders = set()
    for workflow in workflows:
        source = getattr(sys.modules.get(workflow.__module__), "__file__", None)
        if source and source.endswith(".py"):
            folders.add(Path(source).parent)
    written = 0
    for source in sorted(path for folder in folders for path in folder.glob("*.py")):
        try:
            py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)), doraise=True)
        except (OSError, py_compile.PyCompileError) as exc:
            log.info("workflow bytecode not cached for %s: %s", source, exc)
            continue
        written += 1
    return written
