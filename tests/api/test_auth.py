"""Every route but /health needs a live API key; keys are checked, revoked and never stored in clear."""

from fastapi.testclient import TestClient

from nurture.crud.api_keys import revoke_api_key
from nurture.db.models import ApiKey
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings

PUBLIC = {("GET", "/health")}
# Tracking and unsubscribe links carry signed tokens; Postmark's webhooks use HTTP basic auth.
# Their own tests cover how they refuse forged tokens and wrong credentials.
PUBLIC_PREFIXES = ("/t/", "/u/", "/webhooks/")


def _routes(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if (method.upper(), path) not in PUBLIC and not path.startswith(PUBLIC_PREFIXES)
    ]


def test_every_non_public_route_refuses_a_missing_or_wrong_key(anonymous: TestClient) -> None:
    routes = _routes(anonymous)
    assert ("POST", "/contacts") in routes
    for method, path in routes:
        url = path.replace("{", "").replace("}", "")  # any id will do: auth comes first
        for headers in ({}, {"Authorization": "Bearer nrt_00000000_wrong"}, {"Authorization": "Basic eDp5"}):
            response = anonymous.request(method, url, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"] == "Bearer"


def test_health_needs_no_key(anonymous: TestClient) -> None:
    # Temporal points at a closed port in these settings, so health is degraded but answers.
    response = anonymous.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["status"] == "ok"
    assert body["temporal"]["status"] == "error"


def test_a_revoked_key_stops_working(api: TestClient, settings: Settings, api_key: str) -> None:
    assert api.get("/contacts").status_code == 200
    with transaction(session_factory(settings.resolved_database_url)) as session:
        assert revoke_api_key(session, prefix=api_key.split("_")[1]) is not None
    response = api.get("/contacts")
    assert response.status_code == 401
    assert response.json()["detail"] == "The API key is unknown or revoked"


def test_a_key_altered_after_its_prefix_is_refused(anonymous: TestClient, api_key: str) -> None:
    altered = api_key[:-1] + ("A" if api_key[-1] != "A" else "B")
    assert anonymous.get("/contacts", headers={"Authorization": f"Bearer {altered}"}).status_code == 401


def test_only_a_hash_is_stored(settings: Settings, api_key: str) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        stored = session.query(ApiKey).one()
    secret = api_key.split("_", 2)[2]
    assert secret not in stored.key_hash and len(stored.key_hash) == 64


def test_openapi_documents_problem_details_for_errors(anonymous: TestClient) -> None:
    spec = anonymous.get("/openapi.json").json()
    responses = spec["paths"]["/contacts"]["post"]["responses"]
    for status in ("400", "401", "404", "409", "422"):
        schema = responses[status]["content"]["application/problem+json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ProblemDetails"}, status
    assert "HTTPValidationError" not in spec["components"]["schemas"]
