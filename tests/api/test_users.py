"""Users through the API: CRUD, filters, pagination, duplicates, bad input, and owner deletion."""

import pytest
from fastapi.testclient import TestClient


def _create(api: TestClient, **fields: object) -> dict:
    response = api.post("/users", json={"email": "grace@example.com", "name": "Grace", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_read_update_delete(api: TestClient) -> None:
    created = _create(api, email="Grace@Example.COM", name="  Grace Hopper ")
    assert created["email"] == "grace@example.com"
    assert created["name"] == "Grace Hopper"
    assert api.get(f"/users/{created['id']}").json() == created

    updated = api.patch(f"/users/{created['id']}", json={"name": "Amazing Grace", "email": "G@x.io"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "Amazing Grace"
    assert updated.json()["email"] == "g@x.io"

    assert api.delete(f"/users/{created['id']}").status_code == 204
    missing = api.get(f"/users/{created['id']}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == f"user {created['id']} does not exist"


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_user_is_404(api: TestClient, method: str) -> None:
    kwargs = {"json": {"name": "x"}} if method == "patch" else {}
    response = getattr(api, method)("/users/999", **kwargs)
    assert response.status_code == 404
    assert response.json()["title"] == "Not found"


def test_duplicate_email_is_409_ignoring_case(api: TestClient) -> None:
    _create(api)
    other = _create(api, email="ada@example.com")
    response = api.post("/users", json={"email": "GRACE@example.com", "name": "Again"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "email"

    clash = api.patch(f"/users/{other['id']}", json={"email": "Grace@Example.com"})
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "email"
    # Re-stating one's own email is not a clash.
    assert api.patch(f"/users/{other['id']}", json={"email": "ADA@example.com"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "name": "A"}, "email"),
        ({"email": "a@example.com"}, "name"),
        ({"email": "a@example.com", "name": "   "}, "name"),
        ({"email": "a@example.com", "name": "A", "role": "admin"}, "role"),
    ],
)
def test_invalid_input_is_422_naming_the_field(api: TestClient, body: dict, field: str) -> None:
    response = api.post("/users", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert api.get("/users").json()["data"] == []


def test_patch_refuses_null_email(api: TestClient) -> None:
    user = _create(api)
    response = api.patch(f"/users/{user['id']}", json={"email": None})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "email"


def test_filters_and_cursor_pagination(api: TestClient) -> None:
    for n in range(5):
        _create(api, email=f"u{n}@example.com", name=f"Seller {n}")
    first = api.get("/users", params={"limit": 3}).json()
    assert [u["email"] for u in first["data"]] == ["u0@example.com", "u1@example.com", "u2@example.com"]
    second = api.get("/users", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [u["email"] for u in second["data"]] == ["u3@example.com", "u4@example.com"]
    assert second["next_cursor"] is None

    by_email = api.get("/users", params={"email": "U2@Example.com"}).json()["data"]
    assert [u["name"] for u in by_email] == ["Seller 2"]
    by_name = api.get("/users", params={"q": "seller 4"}).json()["data"]
    assert [u["email"] for u in by_name] == ["u4@example.com"]
    assert len(api.get("/users", params={"q": "EXAMPLE"}).json()["data"]) == 5


def test_deleting_an_owner_keeps_what_they_owned_unowned(api: TestClient) -> None:
    owner = _create(api)
    keeper = _create(api, email="keeper@example.com")
    contact = api.post("/contacts", json={"email": "c@example.com", "owner_id": owner["id"]}).json()
    account = api.post("/accounts", json={"name": "Acme", "owner_id": owner["id"]}).json()
    deal = api.post(
        "/deals",
        json={"title": "Pilot", "value": 10, "stage": "lead", "owner_id": owner["id"]},
    ).json()
    other = api.post(
        "/deals",
        json={"title": "Other", "value": 5, "stage": "lead", "owner_id": keeper["id"]},
    ).json()

    assert api.delete(f"/users/{owner['id']}").status_code == 204

    assert api.get(f"/contacts/{contact['id']}").json()["owner_id"] is None
    assert api.get(f"/accounts/{account['id']}").json()["owner_id"] is None
    assert api.get(f"/deals/{deal['id']}").json()["owner_id"] is None
    assert api.get(f"/deals/{other['id']}").json()["owner_id"] == keeper["id"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users"),
        ("POST", "/users"),
        ("GET", "/users/1"),
        ("PATCH", "/users/1"),
        ("DELETE", "/users/1"),
        ("GET", "/accounts"),
        ("POST", "/accounts"),
        ("PATCH", "/accounts/1"),
        ("DELETE", "/accounts/1"),
        ("GET", "/deals"),
        ("POST", "/deals"),
        ("PATCH", "/deals/1"),
        ("DELETE", "/deals/1"),
    ],
)
def test_a_key_is_required(anonymous: TestClient, method: str, path: str) -> None:
    response = anonymous.request(method, path, json={"name": "x"} if method != "GET" else None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["title"] == "Unauthorized"
