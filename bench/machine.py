"""The machine and code a benchmark run measured: CPU, cores, memory, Python, OS, commit."""

import os
import platform
import subprocess
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Machine:
    """What BENCHMARKS.md says the figures were measured on."""

    cpu: str
    cores: str
    ram: str
    python: str
    os: str
    temporalio: str
    commit: str


def this_machine() -> Machine:
    """This machine, read from /proc and /etc (Linux), and the working tree's commit."""
    return Machine(
        cpu=_cpu(),
        cores=_cores(),
        ram=_ram(),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        os=_os(),
        temporalio=_version("temporalio"),
        commit=_commit(),
    )


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _field(text: str, name: str, separator: str) -> str | None:
    for line in text.splitlines():
        key, found, value = line.partition(separator)
        if found and key.strip() == name:
            return value.strip().strip('"')
    return None


def _cpu() -> str:
    return _field(_read("/proc/cpuinfo"), "model name", ":") or platform.processor() or "unknown"


def _cores() -> str:
    total = os.cpu_count() or 0
    # A container or taskset may give this process fewer than the machine has.
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else total
    return f"{total}" if usable == total else f"{total} ({usable} usable here)"


def _ram() -> str:
    total = _field(_read("/proc/meminfo"), "MemTotal", ":")
    return f"{int(total.split()[0]) / 1024**2:.1f} GiB" if total else "unknown"


def _os() -> str:
    name = _field(_read("/etc/os-release"), "PRETTY_NAME", "=") or platform.system()
    return f"{name}, kernel {platform.release()}"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{head}, with uncommitted changes" if changed else head
