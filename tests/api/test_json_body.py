"""The checks on a JSON body's text: nesting depth counted outside strings, and NaN, Infinity and
lone surrogates found by field, wherever they hide."""

import base64
import json

import pytest

from api.json_body import MAX_DEPTH, NOT_FINITE, NOT_TEXT, nested_too_deeply, unstorable_value


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_depth_is_counted_up_to_the_limit_and_not_past_it() -> None:
    assert not nested_too_deeply(_nested(MAX_DEPTH))
    assert nested_too_deeply(_nested(MAX_DEPTH + 1))
    objects = b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1)
    assert nested_too_deeply(objects)
    # Unclosed counts as deep: the parser would recurse before it found the end.
    assert nested_too_deeply(b"[" * 5_000)


def test_brackets_inside_strings_do_not_nest() -> None:
    body = json.dumps({"a": "[" * 500, "b": '\\"{' * 300, "c": [[1]] * 1_000}).encode()
    assert not nested_too_deeply(body)
    assert nested_too_deeply(json.dumps({"a": "[[[", "b": json.loads(_nested(MAX_DEPTH))}).encode())


def test_siblings_are_not_depth() -> None:
    assert not nested_too_deeply(json.dumps([[[1], [2]]] * 50_000).encode())


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (b'{"a": NaN}', ("a", NOT_FINITE)),
        (b'{"a": {"b": [1, 2, -Infinity]}}', ("a.b[2]", NOT_FINITE)),
        (b"Infinity", ("body", NOT_FINITE)),
        (b'{"a": "\\ud800"}', ("a", NOT_TEXT)),
        (b'{"a": [{"b": "x\\uDFFFy"}]}', ("a[0].b", NOT_TEXT)),
        (b'{"a": {"\\udbff": 1}}', ("a", NOT_TEXT)),
        (b'{"first": NaN, "second": "\\ud800"}', ("first", NOT_FINITE)),
    ],
)
def test_unstorable_values_are_found_by_field(body: bytes, found: tuple[str, str]) -> None:
    assert unstorable_value(body) == found


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "NaN", "NaN": "Infinity"}',
        b'{"a": "\\\\ud800"}',  # an escaped backslash, then text
        b'{"a": "\\ud83d\\ude00"}',  # a pair: one character
        json.dumps({"file": base64.b64encode(b"\x35\xa3\x4d" * 1_000).decode()}).encode(),  # "NaN" in base64
        b'{"a": NaN',  # malformed: the parser says so
    ],
)
def test_text_and_pairs_are_not_unstorable(body: bytes) -> None:
    assert unstorable_value(body) is None
