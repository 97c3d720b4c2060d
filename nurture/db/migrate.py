"""Run Alembic migrations from code, so `nurture migrate` and the dev runner need no alembic.ini."""

import warnings
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from nurture.db.session import get_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for this database URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's config is an ini parser: a literal % must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision`."""
    with warnings.catch_warnings():
        # SQLite cannot reflect the case-insensitive name indexes (on lower(name)); a batch
        # migration that reads the schema warns about each, though it leaves them in place.
        # Every `make dev` on a fresh database would print those warnings for nothing.
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
        command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
