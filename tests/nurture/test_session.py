"""Sessions under concurrency: simultaneous read-then-write transactions all succeed, on either
database; readers read beside a writer and cannot write."""

import threading

import pytest
from sqlalchemy import make_url, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from nurture.db.models import Contact
from nurture.db.session import get_engine, readers, session_factory, transaction
from nurture.settings import Settings, get_settings


def test_concurrent_read_then_write_transactions_all_commit(settings: Settings) -> None:
    sessions = session_factory(settings.resolved_database_url)
    with transaction(sessions) as session:
        contact = Contact(email="busy@example.com", custom_fields={})
        session.add(contact)
        session.flush()
        contact_id = contact.id

    failures: list[BaseException] = []
    start = threading.Barrier(10)

    def edit(n: int) -> None:
        try:
            start.wait()
            with transaction(sessions) as session:
                row = session.get(Contact, contact_id)
                assert row is not None
                row.custom_fields = {**row.custom_fields, f"k{n}": n}
        except BaseException as exc:  # collected: a thread's exception would vanish otherwise
            failures.append(exc)

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with transaction(sessions) as session:
        row = session.get(Contact, contact_id)
        assert row is not None
        # On SQLite the writes serialise, so none is lost; PostgreSQL's READ COMMITTED may
        # interleave them (last writer wins), so only the absence of failures is universal.
        if settings.resolved_database_url.startswith("sqlite"):
            assert len(row.custom_fields) == 10


def test_readers_see_what_was_committed_and_refuse_to_write(settings: Settings) -> None:
    sessions = session_factory(settings.resolved_database_url)
    with transaction(sessions) as session:
        session.add(Contact(email="read-me@example.com", custom_fields={}))

    with readers(sessions)() as session:
        assert session.scalar(select(Contact.id).where(Contact.email == "read-me@example.com")) is not None
        if settings.resolved_database_url.startswith("sqlite"):
            session.add(Contact(email="sneaked-in@example.com", custom_fields={}))
            with pytest.raises(OperationalError, match="readonly"):
                session.flush()
        else:
            assert readers(sessions) is sessions  # PostgreSQL reads never queue behind writers


def test_a_reader_does_not_wait_for_a_writer(settings: Settings) -> None:
    sessions = session_factory(settings.resolved_database_url)
    writing, done = threading.Event(), threading.Event()

    def write() -> None:
        with transaction(sessions) as session:
            session.add(Contact(email="slow-writer@example.com", custom_fields={}))
            session.flush()
            writing.set()
            done.wait(10)  # holds the write lock until the reader has read

    writer = threading.Thread(target=write)
    writer.start()
    assert writing.wait(10)
    try:
        with readers(sessions)() as session:
            # The snapshot before the writer's commit: read at once, without its row.
            assert (
                session.scalar(select(Contact.id).where(Contact.email == "slow-writer@example.com")) is None
            )
    finally:
        done.set()
        writer.join()


def test_a_postgresql_pool_is_sized_by_the_settings(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("SQLite's pools are fixed: one writer and four readers a process")
    monkeypatch.setenv("NURTURE_DATABASE_POOL_SIZE", "2")
    monkeypatch.setenv("NURTURE_DATABASE_MAX_OVERFLOW", "1")
    get_settings.cache_clear()
    # A URL of this test's own, so the engine is made now, with these settings.
    url = make_url(database_url).set(query={"application_name": "pool-size-test"})
    engine = get_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect(), engine.connect():
            assert engine.pool.overflow() == 0  # the two kept open
            with engine.connect():
                assert engine.pool.overflow() == 1  # the one more it may open
                engine.pool._timeout = 0.2  # type: ignore[attr-defined]  # not the 30 s a thread waits
                with pytest.raises(SQLAlchemyTimeoutError):
                    engine.pool.connect()  # and no more
    finally:
        engine.dispose()
        get_settings.cache_clear()


def test_json_columns_keep_what_was_written(settings: Settings) -> None:
    sessions = session_factory(settings.resolved_database_url)
    fields = {"city": "Zürich", "plan": "pro ✓", "score": 1.5, "tags": ["a", "b"], "none": None, 7: "seven"}
    with transaction(sessions) as session:
        contact = Contact(email="json@example.com", custom_fields=fields)
        session.add(contact)
        session.flush()
        contact_id = contact.id

    with sessions() as session:
        stored = session.scalar(select(Contact.custom_fields).where(Contact.id == contact_id))
    # Keys that are not strings come back as strings, as JSON has them.
    assert stored == {**{k: v for k, v in fields.items() if k != 7}, "7": "seven"}
