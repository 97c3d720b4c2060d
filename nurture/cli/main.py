"""`nurture`: the dev stack, API, worker, Postmark server, migrations; API keys, automations, campaigns."""

import asyncio
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from nurture.cli.automations import ApplyRefused, apply_documents, load_documents
from nurture.cli.campaigns import app as campaigns
from nurture.cli.exit import run_and_exit
from nurture.cli.replay import replay
from nurture.crud import automations as automations_crud
from nurture.crud.api_keys import KEY_PREFIX, create_api_key, list_api_keys, revoke_api_key
from nurture.db.migrate import current_revision, upgrade
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings, get_settings

app = typer.Typer(help="Nurture: marketing automation on Temporal.", no_args_is_help=True)
keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys, name="api-keys")
automations = typer.Typer(help="Apply automations from YAML files and list them.", no_args_is_help=True)
app.add_typer(automations, name="automations")
app.add_typer(campaigns, name="campaigns")
# Soft wrap: a line holding a URL, a name or a key stays one line that terminals and scripts can use.
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True, highlight=False)
# The length of ApiKey.name (String(200)); PostgreSQL refuses longer names.
KEY_NAME_LENGTH = 200


def _entry(path: str) -> Callable[..., Any]:
    # The CLI is the composition root: it names the app layers by string so that the
    # nurture package itself never imports api/, workers/ or workflows/.
    module, _, name = path.partition(":")
    entry: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return entry


def _fail(message: str) -> NoReturn:
    """Tell the operator what is wrong in one line on stderr and exit with status 1."""
    errors.print(message, style="red", markup=False)
    raise typer.Exit(1)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _migrated_database() -> str:
    """The database URL, once the database there is known to be reachable and migrated."""
    url = get_settings().resolved_database_url
    try:
        parsed = make_url(url)
    except SQLAlchemyError as exc:
        _fail(f"Invalid database URL (NURTURE_DATABASE_URL): {_one_line(str(exc))}")
    shown = parsed.render_as_string(hide_password=True)
    not_migrated = f"The database at {shown} is not migrated; run `nurture migrate` first"
    # Connecting would create a missing SQLite file and its folder; an absent file is unmigrated.
    if parsed.get_backend_name() == "sqlite" and not (
        parsed.database and parsed.database != ":memory:" and Path(parsed.database).is_file()
    ):
        _fail(not_migrated)
    try:
        revision = current_revision(url)
    except SQLAlchemyError as exc:
        reason = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
        _fail(f"Cannot reach the database at {shown}: {_one_line(reason)}")
    if revision is None:
        _fail(not_migrated)
    return url


@app.command()
def dev() -> None:
    """Start everything locally: Temporal dev server and UI, migrations, worker, API."""
    _entry("workers.dev:main")(get_settings())


@app.command()
def api() -> None:
    """Serve the HTTP API (NURTURE_API_HOST, NURTURE_API_PORT)."""
    import uvicorn

    from nurture.observability.logs import uvicorn_log_config

    settings = get_settings()
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        # The API logs each request by route template; uvicorn's access line shows raw paths
        # and queries (tokens, addresses).
        log_config=uvicorn_log_config(settings),
        access_log=False,
    )


@app.command("postmark-server")
def postmark_server(
    auto_delivery: Annotated[
        bool, typer.Option(help="Post a Delivery webhook after every accepted send, as `make dev` does")
    ] = False,
    persist: Annotated[
        bool, typer.Option(help="Keep the inbox in NURTURE_DATA_DIR/postmark-local.json across restarts")
    ] = True,
) -> None:
    """Serve the local Postmark-compatible server and its inbox (NURTURE_POSTMARK_LOCAL_PORT)."""
    from nurture.postmark_server import serve

    settings = get_settings()
    serve(
        host="127.0.0.1",
        port=settings.postmark_local_port,
        server_token=settings.postmark_server_token,
        webhook_url=settings.public_url.rstrip("/") + "/webhooks/postmark",
        webhook_auth=(settings.webhook_username, settings.webhook_password),
        # Replies to platform 1:1 email: `POST /__local/inbound` posts them here, as Postmark would.
        inbound_webhook_url=settings.public_url.rstrip("/") + "/webhooks/postmark/inbound",
        inbound_webhook_auth=(settings.webhook_username, settings.webhook_password),
        auto_delivery=auto_delivery,
        message_streams=frozenset(
            {settings.postmark_transactional_stream, settings.postmark_broadcast_stream}
        ),
        data_file=settings.data_dir.resolve() / "postmark-local.json" if persist else None,
    )


@app.command()
def worker() -> None:
    """Run a Temporal worker for every Nurture workflow and activity."""
    _entry("workers.worker:main")(get_settings())


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    url = get_settings().resolved_database_url
    upgrade(url)
    console.print(f"Database at revision [bold]{current_revision(url)}[/bold]")


def _diagnostics_failure(exc: BaseException, settings: Settings, *, timeout: float) -> str | None:
    """The one-line explanation of why the diagnostics run failed, or None for an unexpected error."""
    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import TimeoutError as WorkflowTimeoutError
    from temporalio.service import RPCError

    from nurture.temporal.client import connect_failure

    where = f"Temporal at {settings.temporal_address} (namespace {settings.temporal_namespace})"
    no_worker = (
        f"No worker answered on {where}: no worker is polling the `{settings.task_queue}` task queue; "
        "start `nurture worker`"
    )
    if isinstance(exc, TimeoutError):
        return f"{no_worker} (waited {timeout:g} s)"
    if isinstance(exc, WorkflowFailureError):
        if isinstance(exc.cause, WorkflowTimeoutError):
            return no_worker
        return f"The diagnostics run failed on {where}: {_one_line(str(exc.cause))}"
    if isinstance(exc, RPCError):
        return f"{where} refused the diagnostics run: {_one_line(exc.message)}"
    reason = connect_failure(exc)
    return f"Cannot reach {where}: {reason}" if reason is not None else None


@app.command()
def doctor(
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for a worker to run the check")] = 60,
) -> None:
    """Run a diagnostics workflow on a worker and show what it sees."""
    settings = get_settings()
    run_diagnostics = _entry("workers.doctor:run_diagnostics")
    try:
        report = asyncio.run(asyncio.wait_for(run_diagnostics(settings), timeout))
    except Exception as exc:
        message = _diagnostics_failure(exc, settings, timeout=timeout)
        if message is None:
            raise
        _fail(message)
    console.print_json(report.model_dump_json())
    database = report.database
    if not database.reachable:
        _fail(f"The worker cannot reach its database at {database.url}: {_one_line(database.error or '')}")
    if not database.migrated:
        _fail(
            f"The worker's database at {database.url} is at revision {database.revision}, "
            f"not {database.head_revision}; run `nurture migrate`"
        )


app.command()(replay)


def _key_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise typer.BadParameter("must not be empty")
    if len(name) > KEY_NAME_LENGTH:
        raise typer.BadParameter(f"must be at most {KEY_NAME_LENGTH} characters, not {len(name)}")
    return name


@keys.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what the key is for", callback=_key_name)],
) -> None:
    """Create a key and print it; it is shown this once and never again."""
    with transaction(session_factory(_migrated_database())) as session:
        row, key = create_api_key(session, name=name)
    console.print(
        f"Created API key [bold]{row.prefix}[/bold] ({escape(name)}). Store it now; it is not shown again:"
    )
    # Alone on the last line of stdout: scripts read the key from there.
    print(key)


@keys.command("list")
def keys_list() -> None:
    """List keys with their prefixes, creation and last use."""
    with transaction(session_factory(_migrated_database())) as session:
        rows = list_api_keys(session)
    table = Table("prefix", "name", "created", "last used", "revoked")
    for row in rows:
        table.add_row(
            row.prefix,
            escape(row.name),
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
        )
    # A table fits the terminal and wraps inside its cells.
    console.print(table, soft_wrap=False)


@keys.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix, from `list`, or the whole key")],
) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    parts = prefix.strip().split("_", 2)
    # Never echo a whole key back: from here on only its prefix is used.
    prefix = parts[1] if len(parts) == 3 and parts[0] == KEY_PREFIX else prefix.strip()
    with transaction(session_factory(_migrated_database())) as session:
        revoked_before = {row.prefix for row in list_api_keys(session) if row.revoked_at is not None}
        row = revoke_api_key(session, prefix=prefix)
    if row is None:
        _fail(f"No API key with prefix {prefix}")
    if prefix in revoked_before:
        console.print(
            f"API key {prefix} ({escape(row.name)}) was already revoked on {row.revoked_at:%Y-%m-%d %H:%M}"
        )
        return
    console.print(f"Revoked API key {prefix} ({escape(row.name)})")


@automations.command("apply")
def automations_apply(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="YAML: {name, status?, definition}, one or more"),
    ],
) -> None:
    """Create each automation in FILE, or save a new version where its definition changed."""
    try:
        documents = load_documents(file)
        with transaction(session_factory(_migrated_database())) as session:
            done = apply_documents(session, documents)
    except ApplyRefused as exc:
        errors.print(f"{file} is refused; nothing was changed:", style="red", markup=False)
        for line in exc.problems:
            errors.print(f"  {line}", markup=False)
        raise typer.Exit(1) from None
    for line in done:
        console.print(line, markup=False, highlight=False)


@automations.command("list")
def automations_list() -> None:
    """List automations with their status and latest version."""
    with transaction(session_factory(_migrated_database())) as session:
        rows = automations_crud.list_automations(session)
        numbers = automations_crud.latest_numbers(session, automation_ids=[row.id for row in rows])
        running = {row.id: automations_crud.count_running(session, automation_id=row.id) for row in rows}
    table = Table("id", "name", "status", "version", "running")
    for row in rows:
        table.add_row(
            str(row.id),
            escape(row.name),
            row.status.value,
            str(numbers.get(row.id, "")),
            str(running[row.id]),
        )
    console.print(table, soft_wrap=False)


def main() -> None:
    """The `nurture` command (see nurture.cli.exit for why it leaves as it does)."""
    run_and_exit(app)
