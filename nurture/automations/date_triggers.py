"""Date triggers: which field values a `date` trigger matches on a day, and what its daily workflow carries.

Pure (no database), shared by DateTriggerWorkflow (through the sandbox) and its activities. A value
is a date when it is an ISO date `YYYY-MM-DD` or an ISO datetime starting with one (its date as
written, whatever its offset); anything else is skipped. Days are calendar days in UTC.
"""

import calendar
import re
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from nurture.automations.bulk import EnrollmentProgress
from nurture.automations.definition import DateReached

# Extended ISO only: the database narrows the search by this prefix before a value is parsed here.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def date_of(value: Any) -> date | None:
    """The date a field value holds: `2024-03-01`, or the date of `2024-03-01T09:30:00+02:00`.

    None for anything else (a number, `01/03/2024`, `2024-02-30`, an empty string).
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        return None
    try:
        if len(value) == len("YYYY-MM-DD"):
            return date.fromisoformat(value)
        # Not `.astimezone()`: a birthday written with an offset is still that calendar day.
        return datetime.fromisoformat(value).date()
    except ValueError:
        return None


def target_day(trigger: DateReached, day: date) -> date:
    """The date a field must hold for the trigger to fire on `day`: field + offset_days == day."""
    return day - timedelta(days=trigger.offset_days)


def _feb_29_observed(target: date) -> bool:
    # In a year without 29 February, its anniversaries are kept on the 28th.
    return (target.month, target.day) == (2, 28) and not calendar.isleap(target.year)


def matches(trigger: DateReached, value: Any, day: date) -> bool:
    """Whether a contact whose field holds `value` is due on `day` by this trigger.

    `yearly` compares month and day only (any year), and a 29 February falls on the 28th in
    years without one; otherwise the whole date must be the target.
    """
    found = date_of(value)
    if found is None:
        return False
    target = target_day(trigger, day)
    if not trigger.yearly:
        return found == target
    if (found.month, found.day) == (target.month, target.day):
        return True
    return (found.month, found.day) == (2, 29) and _feb_29_observed(target)


def like_patterns(trigger: DateReached, day: date) -> list[str]:
    """SQL LIKE patterns that every value `matches` on `day` fits (a superset: parse to be sure).

    They let the database skip contacts that cannot match, so a page holds due contacts.
    """
    target = target_day(trigger, day)
    if not trigger.yearly:
        return [f"{target.isoformat()}%"]
    patterns = [f"____-{target.month:02d}-{target.day:02d}%"]
    if _feb_29_observed(target):
        patterns.append("____-02-29%")
    return patterns


class DateAutomation(BaseModel):
    """An active automation whose newest version has date triggers, and those triggers."""

    automation_id: int
    triggers: list[DateReached] = Field(min_length=1)


class DatePageRequest(BaseModel):
    """The next page of contacts due on `day` by any of these triggers, in id order, after a cursor."""

    triggers: list[DateReached]
    day: date
    after_id: int | None
    limit: int


class DatePage(BaseModel):
    """The due contacts of one page, the last contact id looked at, and whether there are more."""

    contact_ids: list[int] = Field(default_factory=list)
    cursor: int | None = None
    exhausted: bool = True


class DateTriggerProgress(BaseModel):
    """What a day's run has done so far; carried across continue-as-new and returned at the end."""

    day: date
    # Found once, at the start of the day's run; None until then.
    automations: list[DateAutomation] | None = None
    # One per automation taken in hand, in the order of `automations`: counts, cursor, done.
    enrollments: list[EnrollmentProgress] = Field(default_factory=list)
    done: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def started(self) -> int:
        """Runs started, over every automation."""
        return sum(e.started for e in self.enrollments)


class DateTriggerInput(BaseModel):
    """Run the date triggers of one day: the schedule's day (or today, UTC) unless `day` is given."""

    day: date | None = None
    # False for a server without Nurture's search attributes (the time-skipping test server).
    index: bool = True
    page_size: int = Field(default=500, ge=1)
    concurrency: int = Field(default=20, ge=1)
    pages_per_run: int = Field(default=20, ge=1)
    progress: DateTriggerProgress | None = None
