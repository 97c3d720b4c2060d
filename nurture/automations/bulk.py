"""What a bulk enrollment carries and reports: its audience, pages, batches and progress.

Pure pydantic, shared by EnrollmentWorkflow (through the sandbox), its activities and the API.
"""

from datetime import datetime

from pydantic import BaseModel, Field

# Refusal categories, from the reasons nurture.automations.enroll gives (first match wins).
_CATEGORIES: list[tuple[str, str]] = [
    ("(entry: once)", "once"),
    ("(entry: after_previous)", "after_previous"),
    ("already has a run for", "per_value"),
    ("needs that event property", "per_value"),
    ("already going", "running"),
    ("not active", "inactive"),
    ("has no version", "no_version"),
    ("does not exist", "missing"),
]


# Failures an enrollment keeps for an operator to read (the workflow's history has every one).
ERRORS_KEPT = 5


def refusal_category(reason: str | None) -> str:
    """The category a bulk enrollment counts a refusal under: `once`, `inactive`, `running`..."""
    text = reason or ""
    for needle, category in _CATEGORIES:
        if needle in text:
            return category
    return "other"


class Audience(BaseModel):
    """Who a bulk enrollment takes: a list's subscribers, or contacts matching a filter.

    `subscribed_to` is a list whose subscribed members are taken; the other keys filter contacts as
    `GET /contacts` does (`list_id` there matches any status on the list). All given keys apply.
    """

    subscribed_to: int | None = None
    tag: str | None = None
    # A contact status (`active`, `unsubscribed`...), checked by the API; kept a string so the
    # workflow sandbox never imports the database models.
    status: str | None = None
    list_id: int | None = None
    q: str | None = None


class EnrollmentProgress(BaseModel):
    """Counts so far; carried across continue-as-new and returned at the end."""

    automation_id: int
    started: int = 0
    # Refusals by category (see refusal_category): `once`, `inactive`, `running`...
    refused: dict[str, int] = Field(default_factory=dict)
    failed: int = 0
    # The first few failures (ERRORS_KEPT).
    errors: list[str] = Field(default_factory=list)
    contacts_seen: int = 0
    pages: int = 0
    # The last contact id taken: the next page starts after it.
    cursor: int | None = None
    done: bool = False
    # Why it ended early, when it did (the automation stopped being active).
    stopped: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def refused_total(self) -> int:
        """Every refusal, whatever its category."""
        return sum(self.refused.values())

    def count(self, batch: "BatchResult") -> None:
        """Add a finished batch's counts."""
        self.started, self.failed, self.errors = _tally(self.refused, self, batch)


class EnrollmentInput(BaseModel):
    """Start (or continue) enrolling an audience into an automation."""

    automation_id: int
    audience: Audience
    # False for a server without Nurture's search attributes (the time-skipping test server).
    index: bool = True
    page_size: int = 500
    concurrency: int = 20
    pages_per_run: int = 20
    progress: EnrollmentProgress | None = None


class PageRequest(BaseModel):
    """The next page of contact ids of an audience, in id order, after a cursor."""

    audience: Audience
    after_id: int | None
    limit: int


class BatchRequest(BaseModel):
    """Enroll these contacts, so many at a time."""

    automation_id: int
    contact_ids: list[int]
    concurrency: int
    index: bool = True


class BatchResult(BaseModel):
    """What became of one batch."""

    started: int = 0
    refused: dict[str, int] = Field(default_factory=dict)
    failed: int = 0
    errors: list[str] = Field(default_factory=list)
    # The next contact to try: a retried activity carries on from here (heartbeat details).
    done: int = 0

    def add(self, other: "BatchResult") -> None:
        """Add another (partial) batch's counts to these."""
        self.started, self.failed, self.errors = _tally(self.refused, self, other)


def _tally(
    refused: dict[str, int], into: EnrollmentProgress | BatchResult, batch: BatchResult
) -> tuple[int, int, list[str]]:
    """Merge a batch's refusals into `refused`; the sums of started and failed, and the errors kept."""
    for category, number in batch.refused.items():
        refused[category] = refused.get(category, 0) + number
    return (
        into.started + batch.started,
        into.failed + batch.failed,
        (into.errors + batch.errors)[:ERRORS_KEPT],
    )
