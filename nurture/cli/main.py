"""`nurture`: run the dev stack, the API, the worker and migrations; manage API keys."""

import asyncio
import importlib
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from nurture.crud.api_keys import create_api_key, list_api_keys, revoke_api_key
from nurture.db.migrate import current_revision, upgrade
from nurture.db.session import session_factory, transaction
from nurture.settings import get_settings

app = typer.Typer(help="Nurture: marketing automation on Temporal.", no_args_is_help=True)
keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
app.add_typer(keys, name="api-keys")
console = Console()


def _entry(path: str) -> Callable[..., Any]:
    # The CLI is the composition root: it names the app layers by string so that the
    # nurture package itself never imports api/, workers/ or workflows/.
    module, _, name = path.partition(":")
    entry: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return entry


@app.command()
def dev() -> None:
    """Start everything locally: Temporal dev server and UI, migrations, worker, API."""
    _entry("workers.dev:main")(get_settings())


@app.command()
def api() -> None:
    """Serve the HTTP API (NURTURE_API_HOST, NURTURE_API_PORT)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "api.main:create_app", factory=True, host=settings.api_host, port=settings.api_port, log_level="info"
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


@app.command()
def doctor() -> None:
    """Run a diagnostics workflow on a worker and show what it sees."""
    report = asyncio.run(_entry("workers.doctor:run_diagnostics")(get_settings()))
    console.print_json(report.model_dump_json())
    if not report.database.migrated:
        raise typer.Exit(1)


@keys.command("create")
def keys_create(name: Annotated[str, typer.Option(help="Who or what the key is for")]) -> None:
    """Create a key and print it; it is shown this once and never again."""
    with transaction(session_factory(get_settings().resolved_database_url)) as session:
        row, key = create_api_key(session, name=name)
    console.print(f"Created API key [bold]{row.prefix}[/bold] ({name}). Store it now; it is not shown again:")
    print(key)


@keys.command("list")
def keys_list() -> None:
    """List keys with their prefixes, creation and last use."""
    with transaction(session_factory(get_settings().resolved_database_url)) as session:
        rows = list_api_keys(session)
    table = Table("prefix", "name", "created", "last used", "revoked")
    for row in rows:
        table.add_row(
            row.prefix,
            row.name,
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
        )
    console.print(table)


@keys.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix, from `list`")]) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    with transaction(session_factory(get_settings().resolved_database_url)) as session:
        row = revoke_api_key(session, prefix=prefix)
    if row is None:
        console.print(f"[red]No API key with prefix {prefix}[/red]")
        raise typer.Exit(1)
    console.print(f"Revoked API key {prefix} ({row.name})")
