"""The least CPU a Python worker could spend on one campaign email: the steps no design can skip.

    .venv/bin/python -m bench.python_floor [--emails 5000]

For the campaign benchmark's newsletter and contacts, in batches of 500, in this process's CPU
time: rendering the template with plain Jinja (no sandbox, no limits, no record of undefined
names), encoding the batch's Postmark JSON (orjson, as the worker does), and inserting each
email's row with its bodies into a bare SQLite table, then marking it sent (sqlite3 itself, no
SQLAlchemy; WAL and synchronous=FULL, as Nurture's database). Nothing else a real send needs:
no plain text, tracked links, signed tokens, eligibility, ledger events, HTTP or Temporal.

Set against the end-to-end target: at 0.7 of the raw posting rate, the workers' share of two
cores, once the local server and Temporal have theirs, is the budget per email; this is the
part of it that is spent before any of the rest (docs/campaigns.md).
"""

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import jinja2
import orjson

from bench.campaign_setup import NEWSLETTER, _contact
from nurture.campaigns.sending import MAX_BATCH

STEPS = ("render", "JSON", "SQLite")


def measure(*, emails: int, data: Path) -> dict[str, float]:
    """CPU microseconds per email of each step, over `emails` emails."""
    template = jinja2.Environment(autoescape=True).from_string(NEWSLETTER.read_text())
    contacts = [_contact("floor", i) for i in range(emails)]
    database = sqlite3.connect(data / "floor.db", isolation_level=None)
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("PRAGMA synchronous=FULL")
    database.execute(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, key TEXT UNIQUE, to_email TEXT, subject TEXT,"
        " status TEXT, html_body TEXT, text_body TEXT)"
    )
    spent = dict.fromkeys(STEPS, 0.0)
    for first in range(0, emails, MAX_BATCH):
        batch = contacts[first : first + MAX_BATCH]
        began = time.process_time()
        bodies = []
        for number, contact in enumerate(batch, start=first):
            custom: dict[str, object] = contact["custom_fields"]  # type: ignore[assignment]
            fields = {"email": contact["email"], "first_name": contact["first_name"], **custom}
            context = {"contact": fields, "sender": {"name": "The team"}, "unsubscribe_url": f"u/{number}"}
            bodies.append(template.render(context))
        rendered = time.process_time()
        orjson.dumps(
            [
                {"To": contact["email"], "Subject": "News", "HtmlBody": html, "MessageStream": "broadcast"}
                for contact, html in zip(batch, bodies, strict=True)
            ]
        )
        encoded = time.process_time()
        keys = [f"campaign:1:contact:{number}" for number in range(first, first + len(batch))]
        # A text body of the size the worker derives (about 2 KB), without deriving it.
        rows = [
            (key, contact["email"], "News", "sending", html, html[:2000])
            for key, contact, html in zip(keys, batch, bodies, strict=True)
        ]
        database.execute("BEGIN")
        database.executemany(
            "INSERT INTO messages (key, to_email, subject, status, html_body, text_body)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        database.execute("COMMIT")
        database.execute("BEGIN")
        database.executemany("UPDATE messages SET status = 'sent' WHERE key = ?", [(key,) for key in keys])
        database.execute("COMMIT")
        written = time.process_time()
        spent["render"] += rendered - began
        spent["JSON"] += encoded - rendered
        spent["SQLite"] += written - encoded
    database.close()
    return {step: seconds * 1e6 / emails for step, seconds in spent.items()}


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emails", type=int, default=5_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nurture-bench-") as folder:
        figures = measure(emails=args.emails, data=Path(folder))
    shown = ", ".join(f"{step} {us:,.0f}" for step, us in figures.items())
    print(f"CPU per email, the least a Python worker spends: {sum(figures.values()):,.0f} µs ({shown})")


if __name__ == "__main__":
    main()
