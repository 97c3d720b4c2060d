"""Checks made before an operation that could build a huge value in one step (`'x' * 10**10`)."""

import math
import operator
import re
from collections.abc import Callable, Iterable
from string import Formatter
from typing import Any

from nurture.templates.limits import Budget, LimitExceeded, Limits, too_large, weight

BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "*": operator.mul,
    "**": operator.pow,
    "+": operator.add,
    "%": operator.mod,
}

# A %-conversion's width and precision: `%-10.3f`, `%(name)*d`.
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d*))?")
_DIGITS = re.compile(r"\d+")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _over(digits: str, limit: int) -> bool:
    # int() of thousands of digits is itself refused by Python; a long run is over any limit.
    return len(digits) > len(str(limit)) or int(digits) > limit


def check_binop(limits: Limits, op: str, left: Any, right: Any) -> None:
    """Refuse `left <op> right` when its result would be over a limit, before computing it.

    Raises:
        LimitExceeded: a repeated string or list over `max_items`, a number over `max_number`,
            a sum over `max_size`, or a %-format width over `max_items`.
    """
    if op == "*":
        if _is_int(left) and _is_int(right):
            _check_bits(limits, left.bit_length() + right.bit_length())
        for seq, count in ((left, right), (right, left)):
            if not (isinstance(seq, str | bytes | list | tuple) and _is_int(count) and count > 0):
                continue
            if count > limits.max_items or weight(seq, limits.max_items) * count > limits.max_items:
                raise too_large()
    elif op == "**":
        if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
            _check_bits(limits, math.log2(abs(left)) * right)
    elif op == "+" and isinstance(left, str | bytes | list | tuple):
        if weight(left, limits.max_size) + weight(right, limits.max_size) > limits.max_size:
            raise too_large()
    elif op == "%" and isinstance(left, str):
        check_percent(limits, left, right)


def _check_bits(limits: Limits, bits: float) -> None:
    if bits > limits.max_number.bit_length():
        raise too_large()


def check_percent(limits: Limits, template: str, args: Any) -> None:
    """Refuse a %-format whose widths or precisions pad past `max_items` (`'%0100000000d' % 1`).

    Raises:
        LimitExceeded: a width or precision is over the limit.
    """
    star = False
    for match in _PERCENT.finditer(template):
        for part in match.groups():
            if part == "*":
                star = True
            elif part and _over(part, limits.max_items):
                raise too_large()
    # `*` takes the width from the arguments.
    values = args if isinstance(args, tuple) else (args,)
    if star and any(_is_int(v) and abs(v) > limits.max_items for v in values):
        raise too_large()


def check_format(limits: Limits, template: str, values: Iterable[Any]) -> None:
    """Refuse a `str.format` template whose specs pad past `max_items` (`'{:>100000000}'`).

    Args:
        limits: the limits.
        template: the string being formatted.
        values: the arguments, positional and by name.

    Raises:
        LimitExceeded: a width or precision is over the limit.
    """
    try:
        specs = [spec for _, _, spec, _ in Formatter().parse(template) if spec]
    except ValueError:
        return  # malformed: formatting it raises a clearer error
    for spec in specs:
        if any(_over(digits, limits.max_items) for digits in _DIGITS.findall(spec)):
            raise too_large()
        # A nested field (`{:{width}}`) takes the width from the arguments.
        if "{" in spec and any(_is_int(v) and abs(v) > limits.max_items for v in values):
            raise too_large()


def replaced_size(text: str, old: Any, new: Any, count: Any = -1) -> int:
    """The length of `text.replace(old, new, count)`, without building it."""
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)  # the replacement itself raises
    found = len(text) + 1 if old == "" else text.count(old)
    if _is_int(count) and count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


def check_method(
    budget: Budget, method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    """Check a call of a string method that can grow its string; returns the arguments to call with.

    `join` gets its items as a list, so an iterator is not consumed twice.

    Raises:
        LimitExceeded: the result would be over `max_size`.
    """
    owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
    if not isinstance(owner, str | bytes):
        return args
    limit = budget.limits.max_size
    size = len(owner)
    if name in ("center", "ljust", "rjust", "zfill") and args and _is_int(args[0]):
        size = args[0]
    elif name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        if _is_int(tabsize):
            tab = "\t" if isinstance(owner, str) else b"\t"
            size = len(owner) + owner.count(tab) * tabsize  # type: ignore[arg-type]
    elif name == "replace" and isinstance(owner, str) and len(args) >= 2:
        size = replaced_size(owner, *args[:3])
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        size = len(owner) * max(longest, 1)
    elif name == "join" and args:
        items = list(args[0])
        size = len(owner) * len(items) + sum(weight(item, limit) for item in items)
        args = (items, *args[1:])
    if size > limit:
        raise too_large()
    return args


def check_filter(budget: Budget, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Check the arguments of a built-in filter that can grow its value; returns those to call with.

    `args` starts with the filtered value. `join` and `sum` get their items as a list, so an
    iterator is not consumed twice.

    Raises:
        LimitExceeded: the result would be over `max_size` (or `max_items` for padding).
    """
    limits = budget.limits
    if not args:
        return args
    value, rest = args[0], args[1:]

    def arg(index: int, key: str, default: Any) -> Any:
        return rest[index] if len(rest) > index else kwargs.get(key, default)

    size = 0
    if name == "center":
        width = arg(0, "width", 80)
        size = width if _is_int(width) else 0
    elif name == "indent":
        width = arg(0, "width", 4)
        pad = width if _is_int(width) else len(str(width))
        text = str(value)
        size = len(text) + (text.count("\n") + 1) * pad
    elif name == "wordwrap":
        width, wrapstring = arg(0, "width", 79), arg(2, "wrapstring", None)
        text = str(value)
        lines = len(text) // max(width, 1) + text.count("\n") + 1 if _is_int(width) else 1
        size = len(text) + lines * len(str(wrapstring or "\n"))
    elif name == "replace" and len(rest) >= 2:
        size = replaced_size(str(value), str(rest[0]), str(rest[1]), arg(2, "count", -1))
    elif name == "format":
        check_percent(limits, str(value), kwargs or rest)
    elif name == "batch" and arg(1, "fill_with", None) is not None:
        size = arg(0, "linecount", 0) if _is_int(arg(0, "linecount", 0)) else 0
    elif name == "slice":
        size = arg(0, "slices", 0) if _is_int(arg(0, "slices", 0)) else 0
    elif name == "tojson":
        indent = arg(0, "indent", None)
        if _is_int(indent):
            # Each item can get a line of up to depth * indent spaces; depth is small in practice.
            size = weight(value, limits.max_size) * (indent + 1)
    elif name in ("join", "sum"):
        value = list(value)
        separator = arg(0, "d", "") if name == "join" else ""
        size = weight(value, limits.max_size) + len(str(separator)) * len(value)
    if size > limits.max_size:
        raise too_large()
    return (value, *rest)


def check_lipsum(limits: Limits, n: Any = 5, html: Any = True, min: Any = 20, max: Any = 100) -> None:  # noqa: A002
    """Refuse `lipsum(...)` asking for more words than `max_items`.

    Raises:
        LimitExceeded: `n` paragraphs of up to `max` words are too many.
    """
    if _is_int(n) and _is_int(max) and n * max > limits.max_items:
        raise too_large()


__all__ = ["BINOPS", "LimitExceeded", "check_binop", "check_filter", "check_format", "check_method"]
