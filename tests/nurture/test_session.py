"""Sessions under concurrency: simultaneous read-then-write transactions all succeed, on either database."""

import threading

from nurture.db.models import Contact
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings


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
