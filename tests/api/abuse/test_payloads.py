"""Oversized and malformed request bodies: a clear 4xx naming the problem, and nothing half-written."""

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import MAX_JSON_BODY
from nurture.crud.contact_csv import MAX_BYTES as MAX_CSV_BYTES
from nurture.settings import Settings
from tests.api.abuse.rows import row_counts

JSON = {"Content-Type": "application/json"}
OVER = f"The request body is over {MAX_JSON_BODY:,} bytes"
NOT_JSON = "The request body is not valid JSON"
TOO_DEEP = "The request body nests arrays and objects more than 100 levels deep"


def _problem(response: httpx.Response, status: int, title: str, detail: str) -> dict[str, Any]:
    got = (response.status_code, response.headers["content-type"])
    assert got == (status, "application/problem+json"), response.text[:500]
    problem: dict[str, Any] = response.json()
    assert (problem["title"], problem["detail"]) == (title, detail), problem
    return problem


def _field(response: httpx.Response, field: str) -> str:
    """The message of a 422 that names `field` first."""
    assert response.status_code == 422, response.text[:500]
    problem = response.json()
    assert problem["errors"][0]["field"] == field, response.text[:500]
    return str(problem["errors"][0]["message"])


def _chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    # A generator makes httpx send the body chunked, declaring no length.
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.fixture
def contact_id(api: TestClient) -> int:
    response = api.post("/contacts", json={"email": "ann@example.com"})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_a_body_over_the_limit_is_413_declared_or_streamed(api: TestClient, settings: Settings) -> None:
    before = row_counts(settings)
    body = b'{"email": "big@example.com", "first_name": "' + b"x" * MAX_JSON_BODY + b'"}'
    _problem(api.post("/contacts", content=body, headers=JSON), 413, "Request Entity Too Large", OVER)
    streamed = api.post("/contacts", content=_chunks(body), headers=JSON)
    _problem(streamed, 413, "Request Entity Too Large", OVER)
    # A form, read by the framework as it streams in, is held to the same limit.
    form = b"scope=all&padding=" + b"x" * MAX_JSON_BODY
    streamed_form = api.post(
        "/u/not-a-token", content=_chunks(form), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    _problem(streamed_form, 413, "Request Entity Too Large", OVER)
    assert row_counts(settings) == before


def test_the_import_and_transactional_routes_have_limits_of_their_own(
    api: TestClient, settings: Settings
) -> None:
    # Over the default, under their own: refused for what the body says, not for its size.
    attachment = {"name": "big.bin", "content": base64.b64encode(b"\0" * MAX_JSON_BODY).decode()}
    send = api.post("/messages/transactional", json={"subject": "Hi", "attachments": [attachment]})
    assert send.status_code == 422, send.text
    import_limit = MAX_CSV_BYTES + 64 * 1024
    csv = b"email\n" + b"someone@example.com\n" * (import_limit // 20 + 1)
    refused = api.post("/contacts/import", files={"file": ("contacts.csv", csv, "text/csv")})
    _problem(refused, 413, "Request Entity Too Large", f"The request body is over {import_limit:,} bytes")
    assert row_counts(settings)["contacts"] == 0


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "ann@example.com"',
        b'{"email": "ann@example.com",}',
        b"{'email': 'ann@example.com'}",
        b'{"email": "ann@example.com"} trailing',
        b'{"email": "ann@example.com", "first_name": "Ann\\x"}',
    ],
    ids=["unclosed", "trailing-comma", "single-quotes", "trailing-text", "bad-escape"],
)
def test_malformed_json_is_400(api: TestClient, settings: Settings, body: bytes) -> None:
    _problem(api.post("/contacts", content=body, headers=JSON), 400, "Malformed JSON", NOT_JSON)
    assert row_counts(settings)["contacts"] == 0


def test_nan_and_infinity_are_422_naming_the_field(
    api: TestClient, contact_id: int, settings: Settings
) -> None:
    # Python's parser takes them; stored in a JSON column, NaN became null on SQLite and was
    # refused by PostgreSQL with a 500.
    before = row_counts(settings)
    for path, body, field in [
        (
            "/events",
            b'{"contact_id": %d, "name": "x", "properties": {"score": NaN}}' % contact_id,
            "properties.score",
        ),
        (
            "/events",
            b'{"contact_id": %d, "name": "x", "properties": {"a": [1, -Infinity]}}' % contact_id,
            "properties.a[1]",
        ),
        (
            "/contacts",
            b'{"email": "bob@example.com", "custom_fields": {"score": Infinity}}',
            "custom_fields.score",
        ),
        ("/deals", b'{"title": "Big", "value": NaN, "stage": "lead"}', "value"),
        (
            "/messages/transactional",
            b'{"to": "bob@example.com", "template_id": 1, "model": {"total": NaN}}',
            "model.total",
        ),
    ]:
        message = _field(api.post(path, content=body, headers=JSON), field)
        assert message == "must be a finite number: NaN and Infinity are not JSON", (path, message)
    assert row_counts(settings) == before
    # As text, they are text.
    quoted = {"contact_id": contact_id, "name": "scored", "properties": {"score": "NaN", "NaN": "Infinity"}}
    assert api.post("/events", json=quoted).status_code == 201


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
    ],
)
def test_a_body_not_sent_as_json_is_415_naming_its_type(
    api: TestClient, settings: Settings, contact_id: int, content_type: str | None
) -> None:
    before = row_counts(settings)
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'{"email": "bob@example.com"}'
    detail = f"Send the body as application/json (the request's Content-Type is {content_type or 'missing'})"
    _problem(api.post("/contacts", content=body, headers=headers), 415, "Unsupported Media Type", detail)
    patched = api.patch(f"/contacts/{contact_id}", content=b'{"first_name": "Bo"}', headers=headers)
    _problem(patched, 415, "Unsupported Media Type", detail)
    assert row_counts(settings) == before
    assert api.get(f"/contacts/{contact_id}").json()["first_name"] is None


def test_json_that_is_not_an_object_is_422_naming_the_body(api: TestClient) -> None:
    for body in (b"[]", b'"ann@example.com"', b"null", b"42"):
        assert "valid dictionary" in _field(api.post("/contacts", content=body, headers=JSON), "body"), body
    assert _field(api.post("/contacts", content=b"", headers=JSON), "body") == "Field required"


def test_deeply_nested_json_is_400_naming_the_depth(
    api: TestClient, settings: Settings, contact_id: int
) -> None:
    before = row_counts(settings)
    template = api.post(
        "/templates", json={"name": "T", "kind": "marketing", "subject": "Hi", "html_body": "x"}
    )
    assert template.status_code == 201
    webhook = f"{settings.webhook_username}:{settings.webhook_password}".encode()
    auth = {"Authorization": f"Basic {base64.b64encode(webhook).decode()}"}
    for depth in (101, 1_000, 100_000):
        for path, body, headers in [
            (
                "/events",
                f'{{"contact_id": {contact_id}, "name": "x", "properties": {{"a": {_nested(depth)}}}}}',
                JSON,
            ),
            (
                "/contacts",
                f'{{"email": "deep@example.com", "custom_fields": {{"a": {_nested(depth)}}}}}',
                JSON,
            ),
            ("/automations", f'{{"name": "Deep", "definition": {{"steps": {_nested(depth)}}}}}', JSON),
            ("/templates/1/preview", f'{{"model": {{"a": {_nested(depth)}}}}}', JSON),
            (
                "/webhooks/postmark",
                f'{{"RecordType": "Bounce", "Metadata": {_nested(depth)}}}',
                {**JSON, **auth},
            ),
            # Not declared as JSON, and read as JSON by hand.
            (
                "/webhooks/postmark/inbound",
                f'{{"Headers": {_nested(depth)}}}',
                {"Content-Type": "text/plain", **auth},
            ),
            ("/contacts", "[" * depth, JSON),
        ]:
            _problem(api.post(path, content=body.encode(), headers=headers), 400, "Bad Request", TOO_DEEP)
    assert row_counts(settings) == before | {"templates": before["templates"] + 1}


def test_nesting_up_to_the_limit_is_stored_and_read_back(api: TestClient, contact_id: int) -> None:
    # 100 levels in all: the body, `properties`, and 98 arrays.
    nested: Any = [1]
    for _ in range(97):
        nested = [nested]
    properties = {"a": nested}
    created = api.post("/events", json={"contact_id": contact_id, "name": "nested", "properties": properties})
    assert created.status_code == 201, created.text
    assert api.get("/events").json()["data"][0]["properties"] == properties


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/contacts", {"email": "ann@example.com", "first_name": "x" * 900_000}, "first_name"),
        ("/contacts", {"email": "a" * 900_000 + "@example.com"}, "email"),
        (
            "/contacts",
            {"email": "ann@example.com", "custom_fields": {"note": "x" * 900_000}},
            "custom_fields",
        ),
        ("/events", {"email": "ann@example.com", "name": "x" * 900_000}, "name"),
        (
            "/events",
            {"email": "ann@example.com", "name": "x", "properties": {"k" * 900_000: 1}},
            "properties",
        ),
        ("/lists", {"name": "x" * 900_000}, "name"),
        ("/tags", {"name": "x" * 900_000}, "name"),
        ("/users", {"email": "owner@example.com", "name": "x" * 900_000}, "name"),
        (
            "/templates",
            {"name": "T", "kind": "marketing", "subject": "x" * 900_000, "html_body": "x"},
            "subject",
        ),
        (
            "/templates",
            {"name": "T", "kind": "marketing", "subject": "Hi", "html_body": "x" * 900_000},
            "html_body",
        ),
        ("/partials", {"name": "footer", "body": "x" * 900_000}, "body"),
        ("/suppressions", {"email": "ann@example.com", "details": "x" * 900_000}, "details"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else "",
)
def test_a_huge_string_is_422_naming_the_field(
    api: TestClient, settings: Settings, path: str, body: dict[str, Any], field: str
) -> None:
    before = row_counts(settings)
    message = _field(api.post(path, json=body), field)
    assert any(words in message for words in ("at most", "longer than", "characters")), message[:500]
    assert row_counts(settings) == before


def test_a_refusal_does_not_echo_a_huge_input(api: TestClient) -> None:
    response = api.post("/contacts", json={"email": "ann@example.com", "custom_fields": {"x" * 900_000: 1}})
    assert _field(response, "custom_fields")
    assert len(response.content) < 10_000


def test_huge_query_and_path_values_are_4xx(api: TestClient) -> None:
    assert api.get("/contacts", params={"q": "x" * 60_000}).json()["data"] == []
    assert api.get("/contacts", params={"cursor": "x" * 60_000}).status_code == 400
    assert _field(api.get("/contacts/" + "9" * 1_000), "contact_id").startswith("Input should be less than")
    assert api.get("/suppressions/" + "x" * 60_000 + "@example.com").status_code in (404, 422)
    assert _field(api.get("/contacts", params={"limit": "9" * 1_000}), "limit")


def test_a_body_that_is_not_utf8_is_400(api: TestClient, settings: Settings) -> None:
    for body in (b'{"email": "\xff@example.com"}', '{"email": "zoë@example.com"}'.encode("latin-1")):
        _problem(
            api.post("/contacts", content=body, headers=JSON),
            400,
            "Bad Request",
            "The request body is not valid UTF-8",
        )
    webhook = f"{settings.webhook_username}:{settings.webhook_password}".encode()
    auth = {"Authorization": f"Basic {base64.b64encode(webhook).decode()}", **JSON}
    for path in ("/webhooks/postmark", "/webhooks/postmark/inbound"):
        _problem(
            api.post(path, content=b'{"RecordType": "\xe9"}', headers=auth), 400, "Malformed JSON", NOT_JSON
        )
    assert row_counts(settings)["contacts"] == 0


def test_a_huge_number_is_400(api: TestClient, contact_id: int) -> None:
    body = b'{"contact_id": %d, "name": "x", "properties": {"a": 1%s}}' % (contact_id, b"0" * 5_000)
    _problem(
        api.post("/events", content=body, headers=JSON),
        400,
        "Bad Request",
        "The request body holds a number of more than 4,300 digits",
    )


def test_a_lone_surrogate_is_422_naming_the_field_and_nothing_is_stored(
    api: TestClient, settings: Settings, contact_id: int
) -> None:
    # Valid JSON, but not Unicode: stored, it failed every later response that showed it.
    before = row_counts(settings)
    template = api.post(
        "/templates", json={"name": "T", "kind": "marketing", "subject": "Hi", "html_body": "x"}
    )
    assert template.status_code == 201
    for path, body, field in [
        (
            "/contacts",
            b'{"email": "bob@example.com", "custom_fields": {"note": "\\ud800"}}',
            "custom_fields.note",
        ),
        ("/contacts", b'{"email": "bob@example.com", "first_name": "a\\udfffb"}', "first_name"),
        (
            "/events",
            b'{"contact_id": %d, "name": "x", "properties": {"a": [1, "\\udbff"]}}' % contact_id,
            "properties.a[1]",
        ),
        (
            "/events",
            b'{"contact_id": %d, "name": "x", "properties": {"\\ud800": 1}}' % contact_id,
            "properties",
        ),
        ("/templates/1/preview", b'{"model": {"items": [{"name": "\\uDC00"}]}}', "model.items[0].name"),
    ]:
        message = _field(api.post(path, content=body, headers=JSON), field)
        assert message == "holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not Unicode text"
    assert row_counts(settings) == before | {"templates": before["templates"] + 1}
    # A pair of surrogates is one character, and welcome.
    pair = b'{"email": "bob@example.com", "first_name": "\\ud83d\\ude00"}'
    created = api.post("/contacts", content=pair, headers=JSON)
    assert created.status_code == 201 and created.json()["first_name"] == "\U0001f600"
    assert api.get("/contacts").status_code == 200 and api.get("/events").status_code == 200


def test_a_nul_character_is_422_naming_the_field(api: TestClient, settings: Settings) -> None:
    for body, field in [
        ({"email": "ann@example.com", "first_name": "a\x00b"}, "first_name"),
        ({"email": "ann@example.com", "custom_fields": {"note": "a\x00b"}}, "custom_fields"),
    ]:
        assert _field(api.post("/contacts", json=body), field) == "may not contain the NUL character"
    assert row_counts(settings)["contacts"] == 0


def test_a_refused_write_leaves_nothing_behind(api: TestClient, settings: Settings, contact_id: int) -> None:
    before = row_counts(settings)
    refusals = [
        (
            "/deals",
            {"title": "Renewal", "value": 10, "stage": "lead", "contact_ids": [contact_id, 999]},
            "contact_ids",
        ),
        ("/contacts", {"email": "bob@example.com", "owner_id": 999}, "owner_id"),
        ("/campaigns", {"name": "News", "template_id": 999, "audience": {"lists": [999]}}, "template_id"),
        (
            "/automations",
            {"name": "Drip", "definition": {"steps": [{"id": "w", "type": "wait"}]}},
            "definition.steps[0]",
        ),
        ("/events", {"email": "nobody@example.com", "name": "x"}, "email"),
    ]
    for path, body, field in refusals:
        response = api.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["errors"][0]["field"].startswith(field), (path, response.json())
    assert row_counts(settings) == before
