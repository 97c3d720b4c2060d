"""Durations as marketers write them ("2d", "36h", "1w 2d", "P2DT3H"), parsed once."""

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator

_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_SHORT = re.compile(r"^\s*(?:(\d+)\s*([wdhms])\s*)+$", re.IGNORECASE)
_PART = re.compile(r"(\d+)\s*([wdhms])", re.IGNORECASE)
_ISO = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
# Nothing in a nurture sequence waits longer than this; a longer wait is a typo.
MAX = timedelta(days=3 * 365)


def parse_duration(text: str) -> timedelta:
    """The timedelta of "2d", "1w 3d", "90m" or ISO 8601 "P2DT3H".

    Raises:
        ValueError: the text is not a positive duration of at most three years.
    """
    seconds = 0
    if _SHORT.match(text):
        seconds = sum(int(n) * _UNITS[unit.lower()] for n, unit in _PART.findall(text))
    elif match := _ISO.match(text.strip().upper()):
        weeks, days, hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
        seconds = weeks * 604_800 + days * 86_400 + hours * 3_600 + minutes * 60 + secs
    else:
        raise ValueError(f"'{text}' is not a duration such as '2d', '12h', '1w 2d' or 'P2DT12H'")
    if seconds <= 0:
        raise ValueError(f"'{text}' must be longer than zero")
    if seconds > MAX.total_seconds():
        raise ValueError(f"'{text}' is longer than three years")
    return timedelta(seconds=seconds)


def _check(text: str) -> str:
    parse_duration(text)
    return text.strip()


# Kept as written in the definition (so a saved version reads as the marketer wrote it).
Duration = Annotated[str, AfterValidator(_check)]
