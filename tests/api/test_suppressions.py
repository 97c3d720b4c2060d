"""The suppression list through the API: add, read, list with filters, remove, bad input named."""

from fastapi.testclient import TestClient


def _suppress(api: TestClient, email: str, **fields: object) -> dict:
    response = api.post("/suppressions", json={"email": email, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_read_delete(api: TestClient) -> None:
    created = _suppress(api, "  Ann@Example.COM ", details="asked by phone")
    assert (created["email"], created["reason"], created["source"]) == ("ann@example.com", "manual", "api")
    assert (created["details"], created["message_id"]) == ("asked by phone", None)
    # Any casing of the address finds it.
    assert api.get("/suppressions/ANN@example.com").json() == created

    assert api.delete("/suppressions/Ann@Example.com").status_code == 204
    missing = api.get("/suppressions/ann@example.com")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "suppression ann@example.com does not exist"
    again = api.delete("/suppressions/ann@example.com")
    assert again.status_code == 404 and "ann@example.com" in again.json()["detail"]


def test_duplicate_is_409_naming_the_email(api: TestClient) -> None:
    _suppress(api, "bob@example.com", reason="hard_bounce")
    response = api.post("/suppressions", json={"email": "BOB@example.com"})
    assert response.status_code == 409
    body = response.json()
    assert body["errors"][0]["field"] == "email"
    assert body["detail"] == "bob@example.com is already suppressed (hard_bounce)"
    # The first entry is kept as it was.
    assert api.get("/suppressions/bob@example.com").json()["reason"] == "hard_bounce"


def test_bad_input_names_the_field(api: TestClient) -> None:
    for body, field in [
        ({}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@example.com", "reason": "unsubscribed"}, "reason"),
        ({"email": "a@example.com", "details": "x" * 2001}, "details"),
        ({"email": "a@example.com", "source": "me"}, "source"),
    ]:
        response = api.post("/suppressions", json=body)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == field, body
    response = api.get("/suppressions/not-an-email")
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "email"
    assert api.get("/suppressions", params={"reason": "bogus"}).json()["errors"][0]["field"] == "reason"
    assert api.get("/suppressions").json() == {"data": [], "next_cursor": None}


def test_list_filters_and_pages_newest_first(api: TestClient) -> None:
    _suppress(api, "one@example.com", reason="hard_bounce")
    _suppress(api, "two@example.org", reason="spam_complaint")
    _suppress(api, "three@example.com")
    everyone = api.get("/suppressions").json()["data"]
    assert [s["email"] for s in everyone] == ["three@example.com", "two@example.org", "one@example.com"]
    bounced = api.get("/suppressions", params={"reason": "hard_bounce"}).json()["data"]
    assert [s["email"] for s in bounced] == ["one@example.com"]
    found = api.get("/suppressions", params={"q": "EXAMPLE.COM"}).json()["data"]
    assert [s["email"] for s in found] == ["three@example.com", "one@example.com"]

    first = api.get("/suppressions", params={"limit": 2}).json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    second = api.get("/suppressions", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [s["email"] for s in second["data"]] == ["one@example.com"] and second["next_cursor"] is None


def test_needs_an_api_key(anonymous: TestClient) -> None:
    assert anonymous.get("/suppressions").status_code == 401
    assert anonymous.post("/suppressions", json={"email": "a@example.com"}).status_code == 401
