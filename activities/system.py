"""SystemActivities: checks of the worker's own setup."""

from sqlalchemy import text
from temporalio import activity

from nurture.db.migrate import current_revision, head_revision
from nurture.db.session import get_engine
from nurture.diagnostics import DatabaseReport


class SystemActivities:
    """Activities about the worker's environment, built once per worker."""

    def __init__(self, *, database_url: str) -> None:
        self._database_url = database_url

    @activity.defn(name="check_database")
    def check_database(self) -> DatabaseReport:
        """Connect to the database and read its migration revision."""
        engine = get_engine(self._database_url)
        url = engine.url.render_as_string(hide_password=True)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            revision = current_revision(self._database_url)
        except Exception as exc:
            return DatabaseReport(
                reachable=False,
                url=url,
                dialect=engine.dialect.name,
                revision=None,
                head_revision=head_revision(),
                error=str(exc).splitlines()[0],
            )
        return DatabaseReport(
            reachable=True,
            url=url,
            dialect=engine.dialect.name,
            revision=revision,
            head_revision=head_revision(),
        )
