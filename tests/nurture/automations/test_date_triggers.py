"""Date triggers, pure: which field values are dates, which a trigger matches on a day (offsets, yearly,
29 February), and that the database's LIKE narrowing never drops a value that matches."""

import re
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from nurture.automations.date_triggers import date_of, like_patterns, matches, target_day
from nurture.automations.definition import DateReached, Definition


def trigger(field: str = "birthday", offset_days: int = 0, yearly: bool = False) -> DateReached:
    return DateReached(type="date", field=field, offset_days=offset_days, yearly=yearly)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01", date(2024, 3, 1)),
        ("1990-02-29", None),  # 1990 had no 29 February
        ("2024-02-29", date(2024, 2, 29)),
        ("2024-03-01T09:30:00", date(2024, 3, 1)),
        ("2024-03-01 09:30", date(2024, 3, 1)),
        ("2024-03-01T09:30:00Z", date(2024, 3, 1)),
        # Its date as written: 23:30 at -05:00 is 2 March in UTC, but the value says 1 March.
        ("2024-03-01T23:30:00-05:00", date(2024, 3, 1)),
        ("2024-3-1", None),
        ("01/03/2024", None),
        ("20240301", None),
        ("2024-03-01junk", None),
        (" 2024-03-01", None),
        ("2024-13-01", None),
        ("", None),
        ("soon", None),
        (20240301, None),
        (None, None),
        (["2024-03-01"], None),
        ({"date": "2024-03-01"}, None),
    ],
)
def test_a_value_is_a_date_only_when_it_is_iso(value: Any, expected: date | None) -> None:
    assert date_of(value) == expected


def test_the_offset_moves_the_day_the_field_must_hold() -> None:
    day = date(2025, 3, 10)
    assert target_day(trigger(), day) == day
    # Fourteen days before a renewal: the renewal is fourteen days from today.
    renewal = trigger("renewal_date", offset_days=-14)
    assert target_day(renewal, day) == date(2025, 3, 24)
    assert matches(renewal, "2025-03-24", day)
    assert not matches(renewal, "2025-03-10", day)
    # Thirty days after signing up.
    signup = trigger("signed_up_on", offset_days=30)
    assert matches(signup, "2025-02-08T17:00:00Z", day)
    assert not matches(signup, "2025-02-09", day)


def test_without_yearly_the_whole_date_must_match() -> None:
    day = date(2025, 3, 1)
    assert matches(trigger(), "2025-03-01", day)
    assert not matches(trigger(), "1990-03-01", day)
    assert not matches(trigger(), "2025-03-02", day)
    assert not matches(trigger(), "not a date", day)


def test_yearly_matches_month_and_day_in_any_year() -> None:
    birthday = trigger(yearly=True)
    day = date(2025, 3, 1)
    assert matches(birthday, "1990-03-01", day)
    assert matches(birthday, "2001-03-01T00:00:00", day)
    assert not matches(birthday, "1990-03-02", day)
    assert not matches(birthday, "1990-01-03", day)
    assert not matches(birthday, "01/03/1990", day)
    # A week ahead of the birthday, across the new year.
    week_before = trigger(yearly=True, offset_days=-7)
    assert matches(week_before, "1988-01-03", date(2024, 12, 27))
    assert not matches(week_before, "1988-01-03", date(2025, 1, 3))


def test_a_29_february_birthday_is_kept_on_the_28th_in_years_without_one() -> None:
    birthday = trigger(yearly=True)
    leapling = "2000-02-29"
    assert matches(birthday, leapling, date(2025, 2, 28))
    assert not matches(birthday, leapling, date(2025, 3, 1))
    # In a leap year it has its own day, and the 28th belongs to others.
    assert matches(birthday, leapling, date(2024, 2, 29))
    assert not matches(birthday, leapling, date(2024, 2, 28))
    assert matches(birthday, "1999-02-28", date(2025, 2, 28))
    assert matches(birthday, "1999-02-28", date(2024, 2, 28))
    # With an offset, the anniversary's year decides: the day after falls on 1 March 2025.
    day_after = trigger(yearly=True, offset_days=1)
    assert matches(day_after, leapling, date(2025, 3, 1))
    assert matches(day_after, leapling, date(2024, 3, 1))
    assert not matches(day_after, leapling, date(2024, 2, 29))


def _like(pattern: str, value: str) -> bool:
    """SQL LIKE, as the database applies it (`_` one character, `%` any run)."""
    regex = "".join("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def test_every_matching_value_fits_the_sql_patterns_on_every_day_of_four_years() -> None:
    values = [
        "2000-02-29",
        "1999-02-28",
        "1990-03-01",
        "1985-12-31T23:59:59+01:00",
        "2024-01-01 08:00",
        "2025-06-15",
    ]
    triggers = [
        trigger(yearly=True),
        trigger(yearly=True, offset_days=-7),
        trigger(),
        trigger(offset_days=30),
    ]
    day = date(2023, 1, 1)
    checked = 0
    while day < date(2027, 1, 1):
        for rule in triggers:
            patterns = like_patterns(rule, day)
            for value in values:
                fits = any(_like(p, value) for p in patterns)
                # For well-formed dates the narrowing is exact: nothing missed, nothing extra.
                assert fits == matches(rule, value, day), (rule, day, value, patterns)
                checked += fits
        day += timedelta(days=1)
    # Each yearly trigger fires once a year per value (4 years); the two fixed triggers fire once
    # for each value dated within the range (2024-01-01 and 2025-06-15).
    assert checked == 2 * 4 * len(values) + 2 * 2


def test_a_date_trigger_needs_a_field_name_and_an_offset_within_a_year() -> None:
    steps = [{"id": "hello", "type": "tag", "add": ["birthday"]}]
    ok = Definition.model_validate(
        {"triggers": [{"type": "date", "field": "birthday", "yearly": True}], "steps": steps}
    )
    assert ok.triggers == [trigger(yearly=True)]
    for bad in [
        {"type": "date", "field": "birth day"},
        {"type": "date", "field": "birthday", "offset_days": 366},
        {"type": "date"},
    ]:
        with pytest.raises(ValidationError):
            Definition.model_validate({"triggers": [bad], "steps": steps})
