"""Alembic environment: migrates the database named by the settings (or the caller's config)."""

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import Connection

from nurture.db.base import Base
from nurture.db.models import __all__ as _models  # noqa: F401  (registers every table)
from nurture.db.session import get_engine
from nurture.settings import get_settings

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url


def run_migrations_offline() -> None:
    """Emit SQL without a connection (`alembic upgrade --sql`)."""
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate over a live connection; batch mode lets SQLite alter tables."""
    with get_engine(url).connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(connection, on=False)
        try:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=True,
                # On SQLite each migration commits on its own: each is checked before it does.
                on_version_apply=_check_foreign_keys if sqlite else None,
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if sqlite:
                # The PRAGMA is a no-op inside a transaction (alembic may leave one open after
                # the last commit), and this pooled connection serves the process afterwards.
                connection.rollback()
                _sqlite_foreign_keys(connection, on=True)


def _sqlite_foreign_keys(connection: Connection, *, on: bool) -> None:
    """Turn SQLite's foreign keys on or off for this connection (outside any transaction).

    Batch mode alters a SQLite table by copying it to a new one, dropping the old and renaming
    the new. With foreign keys on, dropping the old one deletes every row that references it
    (ON DELETE CASCADE: a message's events, links and bodies) or nulls its reference. SQLite's
    documented procedure for such changes turns them off outside the transaction, then checks.
    """
    driver = connection.connection.driver_connection
    assert driver is not None
    # The driver's own connection: SQLAlchemy's would begin a transaction, where the PRAGMA is a no-op.
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _check_foreign_keys(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    """Fail a migration, rolling it back, if it left a reference to a missing row."""
    broken = ctx.connection.exec_driver_sql("PRAGMA foreign_key_check").all() if ctx.connection else []
    if broken:
        where = f"migration {step.up_revision_id}"
        raise RuntimeError(f"{where} left {len(broken)} broken references, e.g. {tuple(broken[0])}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
