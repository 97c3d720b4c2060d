"""Substring search as a user means it: ignoring case, with % and _ matched literally."""

from typing import Any

from sqlalchemy import ColumnElement, func, or_


def matches(text: str, *columns: Any) -> ColumnElement[bool]:
    """True where any of the columns contains `text`, ignoring case."""
    needle = text.strip().lower()
    # autoescape makes LIKE's wildcards in the user's text plain characters.
    return or_(*(func.lower(column).contains(needle, autoescape=True) for column in columns))
