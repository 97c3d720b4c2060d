"""Every route refuses a missing or wrong API key, unless it is listed here as public with the reason;
Postmark's webhooks refuse wrong basic-auth credentials."""

import base64
import re
from collections.abc import Iterable

import pytest
from fastapi import FastAPI, routing
from fastapi.testclient import TestClient

from api.main import create_app
from nurture.crud.api_keys import create_api_key, revoke_api_key
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings
from tests.api.abuse.rows import row_counts

Route = tuple[str, str]

# The routes that answer without an API key, each with the reason. Any other route must refuse a
# request without a key: a new route is protected unless someone adds it here and says why.
PUBLIC: dict[Route, str] = {
    ("GET", "/health"): "probed by load balancers and orchestrators, which hold no key; shows no data",
    ("GET", "/metrics"): "scraped by Prometheus, which holds no API key; NURTURE_METRICS_TOKEN guards it",
    ("GET", "/t/o/{token}.gif"): "the open pixel, loaded by mail clients: the signed token is the credential",
    ("HEAD", "/t/o/{token}.gif"): "the open pixel's headers, for link checkers: signed token",
    ("GET", "/t/c/{token}"): "the click redirect, followed by readers: signed token",
    ("HEAD", "/t/c/{token}"): "the click redirect's headers, for link checkers: signed token",
    ("GET", "/u/{token}"): "the unsubscribe page, opened by readers: signed token",
    ("HEAD", "/u/{token}"): "the unsubscribe page's headers, for link checkers: signed token",
    ("POST", "/u/{token}"): "RFC 8058 one-click unsubscribe, posted by mailbox providers: signed token",
    ("POST", "/webhooks/postmark"): "Postmark's delivery and engagement events: HTTP basic auth of its own",
    ("POST", "/webhooks/postmark/inbound"): "Postmark's inbound email (replies): HTTP basic auth of its own",
    # FastAPI's description of the API itself, outside the document it serves.
    ("GET", "/openapi.json"): "the API's own description; holds no data",
    ("HEAD", "/openapi.json"): "the API's own description; holds no data",
    ("GET", "/docs"): "the interactive documentation page; every call from it still needs a key",
    ("HEAD", "/docs"): "the interactive documentation page",
    ("GET", "/docs/oauth2-redirect"): "part of the documentation page; holds no data",
    ("HEAD", "/docs/oauth2-redirect"): "part of the documentation page",
    ("GET", "/redoc"): "the reference documentation page; holds no data",
    ("HEAD", "/redoc"): "the reference documentation page",
}
BASIC_AUTH = [route for route in PUBLIC if route[1].startswith("/webhooks/")]
# Not served from the API's own description; every other served route must be in it.
UNDOCUMENTED = {route for route in PUBLIC if route[1] in ("/metrics", "/openapi.json", "/redoc")}
UNDOCUMENTED |= {route for route in PUBLIC if route[1].startswith("/docs")}

BOUNCE = {
    "RecordType": "Bounce",
    "MessageStream": "outbound",
    "ID": 42,
    "Type": "HardBounce",
    "TypeCode": 1,
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Description": "The server was unable to deliver your message",
    "Email": "john@example.com",
    "From": "sender@example.com",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "Inactive": True,
    "CanActivate": True,
}


def _documented(app: FastAPI) -> set[Route]:
    return {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}


def _served(app: FastAPI) -> set[Route]:
    """Every route the app answers, described or not (`include_in_schema=False` hides one)."""
    # FastAPI 0.16x keeps included routers whole; older ones list their routes in `app.routes`.
    flatten = getattr(routing, "iter_route_contexts", None)
    contexts: Iterable[object] = flatten(app.routes) if flatten else app.routes
    return {
        # `{tag:path}` is `{tag}` in the description.
        (method, re.sub(r"\{(\w+):\w+\}", r"{\1}", str(getattr(context, "path", ""))))
        for context in contexts
        for method in getattr(context, "methods", None) or ()
    }


def _url(path: str) -> str:
    # Any value will do: the key is checked before the path is.
    return re.sub(r"\{[^}]+\}", "1", path)


def _answering(client: TestClient, routes: Iterable[Route], headers: dict[str, str]) -> list[str]:
    """The routes that did not answer 401 with a Bearer challenge and a problem, with what they did."""
    wrong = []
    for method, path in sorted(routes):
        response = client.request(method, _url(path), headers=headers)
        refused = (
            response.status_code == 401
            and response.headers.get("www-authenticate") == "Bearer"
            and response.headers.get("content-type") == "application/problem+json"
        )
        if not refused:
            wrong.append(f"{method} {path}: {response.status_code}")
    return wrong


def _basic(username: str | bytes, password: str | bytes) -> dict[str, str]:
    pair = (username if isinstance(username, bytes) else username.encode()) + b":"
    pair += password if isinstance(password, bytes) else password.encode()
    return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}


@pytest.fixture
def revoked_key(settings: Settings) -> str:
    """A key that worked until it was revoked."""
    with transaction(session_factory(settings.resolved_database_url)) as session:
        _, key = create_api_key(session, name="revoked")
    with transaction(session_factory(settings.resolved_database_url)) as session:
        revoke_api_key(session, prefix=key.split("_")[1])
    return key


def test_every_route_served_is_described_or_listed(anonymous: TestClient) -> None:
    app = anonymous.app
    assert isinstance(app, FastAPI)
    served, documented = _served(app), _documented(app)
    # A route hidden from the description would escape the checks below unless listed here.
    assert served - documented <= UNDOCUMENTED
    assert documented <= served
    # No stale entry: every public route listed is one the app serves.
    assert set(PUBLIC) <= served
    assert len(documented - set(PUBLIC)) > 90


def test_the_description_marks_exactly_the_other_routes_as_needing_a_key(anonymous: TestClient) -> None:
    spec = anonymous.get("/openapi.json").json()
    without_key = {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method, operation in ops.items()
        if {"HTTPBearer": []} not in operation.get("security", [])
    }
    assert without_key == set(PUBLIC) - UNDOCUMENTED


def test_every_unlisted_route_refuses_a_missing_or_wrong_key(
    anonymous: TestClient, settings: Settings, api_key: str, revoked_key: str
) -> None:
    app = anonymous.app
    assert isinstance(app, FastAPI)
    protected = (_documented(app) | _served(app)) - set(PUBLIC)
    before = row_counts(settings)
    altered = api_key[:-1] + ("A" if api_key[-1] != "A" else "B")
    wrong_keys = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer nrt_00000000_wrong"},
        {"Authorization": f"Bearer {altered}"},
        {"Authorization": f"Bearer {revoked_key}"},
        {"Authorization": f"Bearer {api_key.rsplit('_', 1)[0]}_"},
        # The right key, but not where a key goes.
        {"Authorization": api_key},
        {"Authorization": f"Basic {base64.b64encode(api_key.encode()).decode()}"},
        {"Authorization": f"Token {api_key}"},
        {"X-API-Key": api_key},
        {"Cookie": f"api_key={api_key}"},
    ]
    for headers in wrong_keys:
        assert _answering(anonymous, protected, headers) == [], headers
    # In the query string too, with nothing else.
    for method, path in sorted(protected):
        response = anonymous.request(method, _url(path), params={"api_key": api_key, "token": api_key})
        assert response.status_code == 401, (method, path)
    assert row_counts(settings) == before


def test_a_valid_key_gets_past_the_check_everywhere(api: TestClient) -> None:
    # The other side of the test above: its 401s come from the key, not from the made-up ids.
    app = api.app
    assert isinstance(app, FastAPI)
    protected = (_documented(app) | _served(app)) - set(PUBLIC)
    passed = [
        (method, path)
        for method, path in sorted(protected)
        if api.request(method, _url(path)).status_code != 401
    ]
    assert passed == sorted(protected)


def test_a_route_left_off_the_list_that_answers_without_a_key_is_caught(settings: Settings) -> None:
    app = create_app(settings)
    # What a forgotten dependency looks like: a route that answers anyone.
    app.add_api_route("/contacts-export", lambda: {"data": []}, methods=["GET"])
    app.add_api_route("/hidden-export", lambda: {"data": []}, methods=["GET"], include_in_schema=False)
    with TestClient(app) as client:
        leaks = _answering(client, (_documented(app) | _served(app)) - set(PUBLIC), {})
    assert leaks == ["GET /contacts-export: 200", "GET /hidden-export: 200"]


def test_public_routes_answer_without_a_key(anonymous: TestClient) -> None:
    for method, path in sorted(set(PUBLIC) - set(BASIC_AUTH)):
        response = anonymous.request(method, _url(path))
        # Signed-token routes answer 404 to a made-up token; health answers 503 with Temporal down.
        assert response.status_code in (200, 404, 503), (method, path, response.status_code)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        _basic("postmark", "wrong"),
        _basic("someone", "nurture-dev-webhook-password"),
        _basic("", ""),
        _basic("postmark", ""),
        {"Authorization": "Basic"},
        {"Authorization": "Basic !!!not-base64!!!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        _basic(b"\xff\xfe", b"\xff"),
        {"Authorization": "Bearer postmark:nurture-dev-webhook-password"},
        {"Authorization": "Digest username=postmark"},
    ],
    ids=[
        "missing",
        "wrong-password",
        "wrong-username",
        "empty",
        "empty-password",
        "no-credentials",
        "not-base64",
        "no-colon",
        "not-utf8",
        "bearer",
        "digest",
    ],
)
def test_webhooks_refuse_wrong_basic_credentials(
    anonymous: TestClient, settings: Settings, api_key: str, headers: dict[str, str]
) -> None:
    before = row_counts(settings)
    near_misses = [
        headers,
        # Close to the right ones: swapped, case changed, one character more or less, the API key.
        _basic(settings.webhook_password, settings.webhook_username),
        _basic(settings.webhook_username.upper(), settings.webhook_password),
        _basic(settings.webhook_username, settings.webhook_password + "x"),
        _basic(settings.webhook_username, settings.webhook_password[:-1]),
        {"Authorization": f"Bearer {api_key}"},
    ]
    for _, path in BASIC_AUTH:
        for attempt in near_misses:
            response = anonymous.post(path, json=BOUNCE, headers=attempt)
            # Never 403: Postmark stops retrying on a 403, even once the credentials are fixed.
            assert response.status_code == 401, (path, attempt, response.text)
            assert response.headers["www-authenticate"] == 'Basic realm="postmark"'
            assert response.headers["content-type"] == "application/problem+json"
    assert row_counts(settings) == before


def test_webhooks_take_the_right_credentials(anonymous: TestClient, settings: Settings) -> None:
    # The other side of the test above: the same bounce with the right credentials suppresses.
    right = _basic(settings.webhook_username, settings.webhook_password)
    response = anonymous.post("/webhooks/postmark", json=BOUNCE, headers=right)
    assert response.status_code == 200, response.text
    assert row_counts(settings)["suppressions"] == 1
    inbound = anonymous.post("/webhooks/postmark/inbound", json={}, headers=right)
    assert inbound.status_code == 422  # past the credentials, to the payload
