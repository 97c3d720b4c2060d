"""Models of the diagnostics run: what a worker sees of its own setup."""

from datetime import datetime

from pydantic import BaseModel


class DiagnosticsInput(BaseModel):
    """Who asked for the check (shown in the run's summary)."""

    requested_by: str = "cli"


class DatabaseReport(BaseModel):
    """The worker's view of the application database."""

    reachable: bool
    # With the password hidden: tells whether the worker and the API share a database.
    url: str
    dialect: str
    revision: str | None
    head_revision: str | None
    error: str | None = None

    @property
    def migrated(self) -> bool:
        """Whether the database is at the revision this code ships."""
        return self.reachable and self.revision == self.head_revision


class DiagnosticsReport(BaseModel):
    """What the diagnostics run found."""

    database: DatabaseReport
    checked_at: datetime
