"""The dev runner behind `make dev`: Temporal, migrations, worker, API and local Postmark server, together."""

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console

from nurture.crud.api_keys import create_api_key, list_api_keys, verify_api_key
from nurture.db.migrate import upgrade
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings
from nurture.temporal import search_attributes
from nurture.temporal.binaries import dev_server_flags, temporal_cli
from nurture.temporal.client import connect
from workers.doctor import run_diagnostics
from workers.processes import ProcessGroup

console = Console(highlight=False, soft_wrap=True)
STARTUP_TIMEOUT = 90.0


class StartupError(Exception):
    """Something did not come up; the message says what and where to look."""


def busy_ports(settings: Settings) -> list[str]:
    """The ports the stack needs that something else already holds, described."""
    wanted = [
        (settings.temporal_port, "Temporal gRPC", "NURTURE_TEMPORAL_ADDRESS"),
        (settings.temporal_ui_port, "Temporal UI", "NURTURE_TEMPORAL_UI_PORT"),
        (settings.api_port, "API", "NURTURE_API_PORT"),
        (settings.postmark_local_port, "Postmark (local)", "NURTURE_POSTMARK_LOCAL_PORT"),
    ]
    if settings.worker_metrics_address:
        # Off unless asked for: one more fixed port is one more way for `make dev` to fail.
        port = int(settings.worker_metrics_address.rsplit(":", 1)[1])
        wanted.append((port, "worker metrics", "NURTURE_WORKER_METRICS_ADDRESS"))
    busy = []
    for port, what, variable in wanted:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As the servers themselves do: connections of the last run in TIME_WAIT do not count.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy.append(f"port {port} ({what}) is already in use; free it or set {variable}")
    return busy


def child_env(settings: Settings) -> dict[str, str]:
    """The environment that makes the worker and API see exactly the runner's settings."""
    env = dict(os.environ)
    env.update(
        NURTURE_ENV=settings.env,
        NURTURE_DATA_DIR=str(settings.data_dir.resolve()),
        NURTURE_DATABASE_URL=settings.resolved_database_url,
        NURTURE_TEMPORAL_ADDRESS=settings.temporal_address,
        NURTURE_TEMPORAL_NAMESPACE=settings.temporal_namespace,
        NURTURE_TEMPORAL_UI_URL=settings.temporal_ui_url,
        NURTURE_API_HOST=settings.api_host,
        NURTURE_API_PORT=str(settings.api_port),
        NURTURE_PUBLIC_URL=settings.public_url,
        # The worker sends through the local Postmark-compatible server, which posts webhooks back.
        NURTURE_POSTMARK_API_URL=postmark_url(settings) + "/",
        NURTURE_POSTMARK_LOCAL_PORT=str(settings.postmark_local_port),
        PYTHONUNBUFFERED="1",
    )
    return env


def _wait(what: str, check, group: ProcessGroup, log: Path | None = None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        dead = group.exited()
        if dead is not None:
            hint = f"; see {log}" if log else ""
            raise StartupError(f"{dead.name} exited with code {dead.process.returncode}{hint}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise StartupError(f"{what} did not come up within {STARTUP_TIMEOUT:.0f} s")


def _temporal_ready(settings: Settings) -> bool:
    async def check() -> bool:
        client = await connect(settings)
        return await client.service_client.check_health()

    return asyncio.run(check())


def postmark_url(settings: Settings) -> str:
    """Where the local Postmark-compatible server and its inbox answer (no trailing slash)."""
    return f"http://127.0.0.1:{settings.postmark_local_port}"


def _postmark_ready(settings: Settings) -> bool:
    return httpx.get(postmark_url(settings) + "/", timeout=2).status_code == 200


def _api_ready(settings: Settings) -> bool:
    response = httpx.get(f"http://127.0.0.1:{settings.api_port}/health", timeout=2)
    return response.status_code == 200


def _save_key(path: Path, key: str) -> None:
    # Created 600 so that the secret is never readable by others, not even for a moment.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(descriptor, 0o600)  # a file left from an earlier start keeps its old mode otherwise
        file.write(key + "\n")


def dev_api_key(settings: Settings) -> str | None:
    """The dev key to show: a key named "dev", kept in the data folder for later starts.

    It is created on a first start, and again when the saved one no longer works (revoked with
    `nurture api-keys revoke`). None when keys exist but none was saved here: the operator's own.
    """
    saved = settings.data_dir / "dev-api-key"
    with transaction(session_factory(settings.resolved_database_url)) as session:
        if list_api_keys(session):
            if not saved.exists():
                return None
            key = saved.read_text().strip()
            if verify_api_key(session, key=key) is not None:
                return key
            console.print(f"The dev API key saved in {saved} no longer works; creating a new one")
        _, key = create_api_key(session, name="dev")
    _save_key(saved, key)
    return key


def start(settings: Settings, group: ProcessGroup) -> str | None:
    """Bring the stack up; returns the dev API key to show."""
    data_dir = settings.data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    env = child_env(settings)

    upgrade(settings.resolved_database_url)
    # Up before the worker, which may send as soon as it starts.
    postmark_log = data_dir / "logs" / "postmark.log"
    group.start(
        "Postmark (local)",
        [sys.executable, "-m", "nurture", "postmark-server", "--auto-delivery"],
        env=env,
        log=postmark_log,
    )
    _wait("Postmark (local)", lambda: _postmark_ready(settings), group, postmark_log)
    temporal_log = data_dir / "logs" / "temporal.log"
    group.start(
        "Temporal dev server",
        [
            str(temporal_cli()),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(settings.temporal_port),
            "--ui-port",
            str(settings.temporal_ui_port),
            "--db-filename",
            str(data_dir / "temporal.db"),
            "--namespace",
            settings.temporal_namespace,
            "--log-level",
            "warn",
            *search_attributes.cli_flags(),
            *dev_server_flags(),
        ],
        env=env,
        log=temporal_log,
    )
    _wait("Temporal", lambda: _temporal_ready(settings), group, temporal_log)

    group.start("worker", [sys.executable, "-m", "nurture", "worker"], env=env)
    group.start("API", [sys.executable, "-m", "nurture", "api"], env=env)
    _wait("API", lambda: _api_ready(settings), group)
    report = asyncio.run(asyncio.wait_for(run_diagnostics(settings), timeout=STARTUP_TIMEOUT))
    if not report.database.migrated:
        raise StartupError(f"the worker sees an unmigrated database: {report.database}")
    return dev_api_key(settings)


def banner(settings: Settings, key: str | None) -> None:
    """Say where everything is."""
    api = f"http://127.0.0.1:{settings.api_port}"
    console.print("\n[bold green]Nurture is running[/bold green]")
    console.print(f"  API          {api}   (docs: {api}/docs, health: {api}/health)")
    console.print(f"  Temporal UI  {settings.temporal_ui_url}")
    console.print(f"  Temporal     {settings.temporal_address} (namespace {settings.temporal_namespace})")
    console.print(f"  Postmark (local)  {postmark_url(settings)}  (inbox)")
    if settings.api_metrics:
        console.print(f"  Metrics      {api}/metrics (API)")
    if settings.worker_metrics_address:
        worker = f"http://{settings.worker_metrics_address}/metrics"
        console.print(f"               {worker} (worker, Temporal SDK)")
    console.print(f"  Database     {settings.resolved_database_url}")
    console.print(f"  Logs         {settings.data_dir.resolve() / 'logs'}")
    if key:
        console.print(f"  API key      {key}")
        console.print(f'               curl -H "Authorization: Bearer {key}" {api}/contacts')
    console.print("Press Ctrl-C to stop.\n")


def main(settings: Settings) -> None:
    """Run the stack until Ctrl-C (or SIGTERM), then stop every process."""
    update = {"temporal_ui_url": f"http://localhost:{settings.temporal_ui_port}"}
    if "public_url" not in settings.model_fields_set:
        # Links in email and Postmark's webhooks must reach this API, whatever port it got.
        update["public_url"] = f"http://localhost:{settings.api_port}"
    settings = settings.model_copy(update=update)
    busy = busy_ports(settings)
    if busy:
        for problem in busy:
            console.print(f"[red]Cannot start:[/red] {problem}")
        sys.exit(1)

    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    group = ProcessGroup()
    code = 0
    try:
        with console.status("Starting Temporal, the local Postmark server, worker and API..."):
            key = start(settings, group)
        banner(settings, key)
        while not stopping:
            dead = group.exited()
            if dead is not None:
                console.print(f"[red]{dead.name} exited with code {dead.process.returncode}; stopping[/red]")
                code = 1
                break
            time.sleep(0.3)
    except StartupError as exc:
        console.print(f"[red]Startup failed:[/red] {exc}")
        code = 1
    finally:
        console.print("Stopping...")
        group.stop()
        console.print("Stopped.")
    sys.exit(code)
