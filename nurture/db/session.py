"""Engines and sessions: one engine per database URL, with SQLite made to enforce foreign keys."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from nurture.db.write_turns import WriteTurns
from nurture.settings import get_settings


def _json_text(value: Any) -> str:
    """A JSON column's value as the database stores it: orjson, several times sooner than the
    standard library's encoder (a campaign batch writes thousands of these: headers, link
    targets, events' data); dict keys that are not strings become strings, as json.dumps makes them."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _sqlite_reader_connect(dbapi_connection: Any, record: Any) -> None:
    _sqlite_connect(dbapi_connection, record)
    # A reader that tried to write would take the write lock behind the writers' backs.
    dbapi_connection.execute("PRAGMA query_only=ON")


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite opens transactions lazily and not before a SAVEPOINT, so a released savepoint
    # would commit on its own; SQLAlchemy's documented fix: no driver transactions, our own BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # SQLite ignores foreign keys unless asked; WAL lets the API and worker read while one writes.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # A writer waits this long for another (a large CSV import) instead of failing at once.
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Reader connections per process on SQLite: the batches a worker runs at once read side by side.
READERS = 4


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """The process's engine for a database URL, created once; on PostgreSQL its pool is sized by
    the process's settings (NURTURE_DATABASE_POOL_SIZE, NURTURE_DATABASE_MAX_OVERFLOW)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            json_serializer=_json_text,
        )
        event.listen(engine, "connect", _sqlite_connect)
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
        # writes after another writer fails at once with "database is locked", busy_timeout or
        # not. So every transaction queues for the lock: slower under write load, never a spurious
        # failure. SQLite is the single-machine default; production runs on PostgreSQL.
        turns = WriteTurns(Path(parsed.database or "nurture.db"))

        def begin(connection: Connection) -> None:
            turns.take()
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        event.listen(engine, "begin", begin)
        event.listen(engine, "commit", lambda _connection: turns.give_back())
        event.listen(engine, "rollback", lambda _connection: turns.give_back())
        return engine
    settings = get_settings()
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        json_serializer=_json_text,
    )


@lru_cache(maxsize=8)
def _reader_engine(url: str) -> Engine:
    """SQLite connections that only read: deferred transactions, so they take no lock at all."""
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False},
        pool_size=READERS,
        max_overflow=0,
        pool_timeout=60,
        json_serializer=_json_text,
    )
    event.listen(engine, "connect", _sqlite_reader_connect)
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    return engine


def session_factory(url: str) -> sessionmaker[Session]:
    """A sessionmaker bound to the engine for this URL."""
    return sessionmaker(get_engine(url), expire_on_commit=False)


def readers(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions for reads alone, on the same database as `factory`'s: writing through them fails.

    On SQLite every transaction of `factory` takes the write lock (see `get_engine`), so reads
    in them queue behind writers, also in other processes. These read a snapshot (WAL) beside
    the writer instead. On PostgreSQL they are `factory` itself.
    """
    engine = factory.kw["bind"]
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return factory
    return sessionmaker(_reader_engine(url.render_as_string(hide_password=False)), expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits together on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session
