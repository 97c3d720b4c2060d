"""Durations as marketers write them, and the ones refused with a reason."""

from datetime import timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from nurture.automations.durations import Duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2d", timedelta(days=2)),
        ("36h", timedelta(hours=36)),
        ("1w 2d", timedelta(days=9)),
        ("90m", timedelta(minutes=90)),
        ("10s", timedelta(seconds=10)),
        ("2D", timedelta(days=2)),
        ("P2DT3H", timedelta(days=2, hours=3)),
        ("PT30M", timedelta(minutes=30)),
        ("P1W", timedelta(weeks=1)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2 days", "is not a duration such as '2d'"),
        ("", "is not a duration"),
        ("0d", "must be longer than zero"),
        ("P", "must be longer than zero"),
        ("4000d", "is longer than three years"),
        ("-2d", "is not a duration"),
    ],
)
def test_refused_durations_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_duration(text)


def test_a_duration_field_keeps_what_was_written() -> None:
    adapter = TypeAdapter(Duration)
    assert adapter.validate_python(" 1w 2d ") == "1w 2d"
    with pytest.raises(ValidationError, match="not a duration"):
        adapter.validate_python("soon")
