"""When "the next 9:00 on a weekday, in the contact's time zone" is."""

import zoneinfo
from datetime import UTC, datetime, time, timedelta, tzinfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def next_time_of_day(
    now: datetime, *, time_of_day: str | None, weekdays: list[str] | None, timezone: str | None
) -> datetime:
    """The first moment after `now` at `time_of_day` (HH:MM) on one of `weekdays`, in UTC.

    Without a time of day, the start of the next allowed day; without weekdays, any day. An
    unknown or missing time zone counts as UTC.
    """
    try:
        zone: tzinfo = zoneinfo.ZoneInfo(timezone) if timezone else UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = UTC
    local_now = now.astimezone(zone)
    hour, minute = (int(part) for part in (time_of_day or "00:00").split(":"))
    allowed = {WEEKDAYS.index(day) for day in weekdays} if weekdays else set(range(7))
    for days_ahead in range(8):
        day = local_now.date() + timedelta(days=days_ahead)
        if day.weekday() not in allowed:
            continue
        # Built from the wall-clock time, so a daylight-saving change keeps 9:00 at 9:00.
        candidate = datetime.combine(day, time(hour, minute), tzinfo=zone)
        if candidate > local_now:
            return candidate.astimezone(UTC)
    raise AssertionError("a week always holds an allowed day")
