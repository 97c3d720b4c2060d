"""Checks on a JSON request body that the framework's parser does not make: how deeply it nests,
and values Python's parser takes but that are no JSON (NaN, Infinity) or no text (lone surrogates)."""

import json
import math
import re
from array import array
from itertools import accumulate
from typing import Any

# As Ruby's JSON parser allows by default; the API's own bodies nest a handful of levels.
MAX_DEPTH = 100
# Brackets inside JSON strings do not nest: strings go first. Then each bracket becomes a step
# of +1 or -1 (0xff as a signed byte), the rest is dropped, and the running sum is the depth.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[{]}")
# JSON may spell a surrogate as an escape; Python's parser keeps a lone one in the string it builds.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")

NOT_FINITE = "must be a finite number: NaN and Infinity are not JSON"
NOT_TEXT = "holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not Unicode text"


def nested_too_deeply(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in this JSON text nest more than `limit` levels deep.

    Every layer after the parser (validators, JSON columns, templates' variables) walks nested
    values recursively: hundreds of levels would exhaust Python's recursion limit in one of them.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # too few brackets to get there: the common case
    # All at C speed: tens of milliseconds for a megabyte of brackets.
    steps = array("b", _STRING.sub(b"", body).translate(_STEPS, _NOT_BRACKETS))
    return max(accumulate(steps), default=0) > limit


def unstorable_value(body: bytes) -> tuple[str, str] | None:
    """The field (`properties.score`, `model.items[2]`) and problem of the first value in this JSON
    text that cannot be stored or shown, or None.

    NaN and Infinity are read as floats that JSON columns cannot hold: SQLite stores null in their
    place and PostgreSQL refuses the row. A lone surrogate (`"\\ud800"`) cannot be encoded as
    UTF-8: stored, it fails every later response that shows it.
    """
    if not _SURROGATE_ESCAPE.search(body) and not any(_standalone(body, w) for w in (b"NaN", b"Infinity")):
        return None  # the common case, without parsing
    try:
        value = json.loads(body)
    except ValueError:
        return None  # malformed: the parser's own error says so
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return path or "body", NOT_FINITE
        if isinstance(item, str) and _SURROGATE.search(item):
            return path or "body", NOT_TEXT
        if isinstance(item, dict):
            if any(_SURROGATE.search(key) for key in item):
                return path or "body", NOT_TEXT
            pending.extend((f"{path}.{key}" if path else key, child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            pending.extend((f"{path}[{index}]", child) for index, child in reversed(list(enumerate(item))))
    return None


def _standalone(body: bytes, word: bytes) -> bool:
    """Whether `word` occurs in `body` other than as part of a longer word (base64 holds "NaN")."""
    start = body.find(word)  # a plain substring search: far faster than a regex with lookarounds
    while start != -1:
        end = start + len(word)
        if (start == 0 or body[start - 1] not in _WORD_BYTES) and (
            end == len(body) or body[end] not in _WORD_BYTES
        ):
            return True
        start = body.find(word, end)
    return False
