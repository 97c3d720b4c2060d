"""Sending at one wall-clock time in each contact's time zone: the moments that time falls on.

A campaign scheduled `in_contact_timezone` goes out when the clock in each contact's zone shows
the time `scheduled_at` shows in the campaign's `timezone` (UTC when unset). A contact without a
zone, or with one that is not an IANA name, gets it in the campaign's zone, at `scheduled_at`.
"""

import zoneinfo
from datetime import UTC, datetime
from functools import lru_cache

FALLBACK_ZONE = "UTC"


def zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The IANA zone of that name, or None for no name or a name that is not one."""
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # ValueError: a path, not a key
        return None


@lru_cache(maxsize=1)
def _every_zone() -> tuple[zoneinfo.ZoneInfo, ...]:
    return tuple(zoneinfo.ZoneInfo(name) for name in sorted(zoneinfo.available_timezones()))


class LocalTime:
    """A wall-clock time, and the moment it comes in a given zone."""

    def __init__(self, scheduled_at: datetime, timezone: str | None) -> None:
        """`scheduled_at` (a moment) read on the clock of `timezone` (UTC when None)."""
        self.fallback = scheduled_at.astimezone(UTC)
        own = zone(timezone) or zoneinfo.ZoneInfo(FALLBACK_ZONE)
        self.wall = scheduled_at.astimezone(own).replace(tzinfo=None)

    def at(self, name: str | None) -> datetime:
        """When the wall clock shows this time in zone `name`, in UTC; the fallback for no zone.

        A time skipped by a daylight-saving change (02:30 on the night clocks go forward) is read
        with the offset from before the change, as Python's zoneinfo does.
        """
        found = zone(name)
        if found is None:
            return self.fallback
        return self.wall.replace(tzinfo=found).astimezone(UTC)

    def first(self) -> datetime:
        """The earliest moment the wall clock shows this time anywhere on Earth (UTC+14 first):
        when the campaign's sending starts and its audience is fixed."""
        return min(self.wall.replace(tzinfo=z).astimezone(UTC) for z in _every_zone())
