"""The chaos run's databases: one migrated template, copied for each fault, on SQLite or PostgreSQL."""

import shutil
import threading
import uuid
from pathlib import Path
from typing import Literal

import psycopg
from sqlalchemy.engine import make_url

from nurture.db.migrate import upgrade
from nurture.db.session import get_engine
from tests.conftest import POSTGRES_URL, _libpq, _postgres_reachable

Backend = Literal["sqlite", "postgresql"]


def default_backend() -> Backend:
    """PostgreSQL when the test server is reachable (production's database), else SQLite."""
    return "postgresql" if _postgres_reachable() else "sqlite"


class Databases:
    """Databases of one run: each fault gets a copy of a freshly migrated one, dropped at the end.

    Copying the template (`CREATE DATABASE ... TEMPLATE`, or the SQLite file) takes about a second;
    migrating each one would take several on a loaded machine.
    """

    def __init__(self, backend: Backend, folder: Path) -> None:
        self.backend = backend
        self._folder = folder
        # Every database of the run is named with this prefix.
        self.prefix = f"nurture_chaos_{uuid.uuid4().hex[:8]}"
        self._template: str | None = None
        # Labs ask from threads at once; a template is copied by one CREATE DATABASE at a time.
        self._lock = threading.Lock()
        self._made: list[str] = []

    @property
    def label(self) -> str:
        """The backend as people name it."""
        return "PostgreSQL" if self.backend == "postgresql" else "SQLite"

    def admin_url(self) -> str:
        """A libpq URL to the server's maintenance database (PostgreSQL only)."""
        return _libpq(POSTGRES_URL)

    def _url(self, name: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self._folder / f'{name}.db'}"
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def _ensure_template(self) -> str:
        if self._template is None:
            name = f"{self.prefix}_template"
            if self.backend == "postgresql":
                with psycopg.connect(self.admin_url(), autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{name}"')
                self._made.append(name)
            url = self._url(name)
            upgrade(url)
            # A template must have no connections left when it is copied.
            get_engine(url).dispose()
            self._template = name
        return self._template

    def new(self, fault: str) -> str:
        """A migrated, empty database of the fault's own; its URL."""
        with self._lock:
            return self._copy(fault)

    def _copy(self, fault: str) -> str:
        template = self._ensure_template()
        name = f"{self.prefix}_{fault}"
        if self.backend == "sqlite":
            shutil.copyfile(self._folder / f"{template}.db", self._folder / f"{name}.db")
        else:
            with psycopg.connect(self.admin_url(), autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            self._made.append(name)
        return self._url(name)

    def database_name(self, url: str) -> str:
        """The database (or SQLite file) a URL names."""
        return str(make_url(url).database)

    def drop_all(self) -> None:
        """Drop every PostgreSQL database of the run (SQLite files go with the run's folder)."""
        if self.backend != "postgresql":
            return
        for name in self._made:
            get_engine(self._url(name)).dispose()
        with psycopg.connect(self.admin_url(), autocommit=True) as admin:
            for name in reversed(self._made):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._made.clear()
