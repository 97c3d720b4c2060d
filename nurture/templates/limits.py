"""How much one render may compute: value sizes, number sizes, range lengths, output size and time."""

import time
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The resources one render of a template (all its fields) may use.

    Attributes:
        max_items: characters of a string, or items of a list, built by multiplying (`'x' * n`) or
            padded by a format width (`'%100000d'`); one expression cannot explode past this.
        max_size: characters (roughly, for lists) of any other computed value: concatenations,
            list literals, filter and method results. Summing values can only double them, so
            this can be as large as a rendered field may be.
        max_number: the largest integer `*` and `**` may produce.
        max_range: items of a `range(...)`.
        max_output: UTF-8 bytes of one rendered field (subject, HTML body, text body).
        seconds: wall-clock time for the whole render.
    """

    max_items: int = 100_000
    max_size: int = 2 * MIB
    max_number: int = 10**100
    max_range: int = 10_000
    max_output: int = 2 * MIB
    seconds: float = 2.0


DEFAULT_LIMITS = Limits()


class LimitExceeded(Exception):  # noqa: N818 - reads as what happened, like StopIteration
    """A render went over one of its limits; the renderer adds the field and line."""


def too_large() -> LimitExceeded:
    """The error for a value over its limit."""
    return LimitExceeded("result too large")


def byte_size(count: int) -> str:
    """`2 MiB`, `512 KiB` or `100 bytes`, for messages about limits."""
    for unit, size in (("MiB", MIB), ("KiB", 1024)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"


class Budget:
    """The limits of one render and its deadline, which starts when the budget is made."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds

    def tick(self) -> None:
        """Refuse to go on once the render has used its time; called at every loop step and call.

        Raises:
            LimitExceeded: the deadline has passed.
        """
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"rendering took over {self.limits.seconds:g} s")

    def check_size(self, value: Any, limit: int | None = None) -> Any:
        """`value`, after checking it prints as at most `limit` (default `max_size`) characters.

        Raises:
            LimitExceeded: it is larger.
        """
        limit = self.limits.max_size if limit is None else limit
        if weight(value, limit) > limit:
            raise too_large()
        return value


def weight(value: Any, cap: int) -> int:
    """Roughly how many characters `value` prints as: string lengths, list and dict items, digits.

    Counting stops soon after `cap`, so a list holding the same huge list many times (which
    takes little memory but prints as a huge string) costs at most about `cap` steps to measure.
    Other objects, iterators included, count as one: they are not consumed.
    """
    total = 0
    pending = [value]
    while pending and total <= cap:
        item = pending.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item) + 1
            if total <= cap:
                pending.extend(item)
        elif isinstance(item, dict):
            total += len(item) + 1
            if total <= cap:
                pending.extend(item.keys())
                pending.extend(item.values())
        elif isinstance(item, int) and not isinstance(item, bool):
            # bit_length is exact and cheap, where str() of a huge integer is neither.
            total += item.bit_length() * 3 // 10 + 1
        else:
            total += 1
    return total
