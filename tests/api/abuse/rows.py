"""Row counts of every table: what an abuse test compares to show that nothing was written."""

from sqlalchemy import func, select

from nurture.db.base import Base
from nurture.db.session import session_factory
from nurture.settings import Settings


def row_counts(settings: Settings) -> dict[str, int]:
    """The number of rows in each table, by table name."""
    with session_factory(settings.resolved_database_url)() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }
