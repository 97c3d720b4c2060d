"""Timestamps as Postmark writes them: API answers in US Eastern time, webhooks in UTC."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# Postmark's API answers carry Eastern-time offsets ("2016-10-06T04:24:31.2196962-04:00").
EASTERN = ZoneInfo("America/New_York")


def now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def api_time(moment: datetime) -> str:
    """ISO 8601 with the US Eastern offset, as in SubmittedAt and ReceivedAt."""
    return moment.astimezone(EASTERN).isoformat()


def webhook_time(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as in webhook DeliveredAt, ReceivedAt and BouncedAt."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_search_date(value: str, *, end_of_day: bool) -> datetime:
    """A `fromdate`/`todate` value (date or datetime, Eastern time, inclusive) as an aware datetime.

    Raises:
        ValueError: the value is neither YYYY-MM-DD nor YYYY-MM-DDTHH:MM:SS.
    """
    if len(value) == 10:
        day = datetime.strptime(value, "%Y-%m-%d")
        moment = day.replace(hour=23, minute=59, second=59, microsecond=999999) if end_of_day else day
    else:
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S")
    return moment.replace(tzinfo=EASTERN)
