"""Accounts through the API: CRUD, domains, custom fields, owners, deals, filters, pagination."""

import pytest
from fastapi.testclient import TestClient


def _create(api: TestClient, **fields: object) -> dict:
    response = api.post("/accounts", json={"name": "Acme", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _user(api: TestClient, email: str = "owner@example.com") -> dict:
    response = api.post("/users", json={"email": email, "name": "Owner"})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_read_update_delete(api: TestClient) -> None:
    owner = _user(api)
    created = _create(
        api,
        name="Acme Corp",
        domain="WWW.Acme.COM.",
        owner_id=owner["id"],
        custom_fields={"tier": "gold", "seats": 40},
    )
    assert created["domain"] == "www.acme.com"
    assert created["owner_id"] == owner["id"]
    assert created["deal_ids"] == []
    assert api.get(f"/accounts/{created['id']}").json() == created

    updated = api.patch(
        f"/accounts/{created['id']}",
        json={"name": "Acme Inc", "domain": None, "custom_fields": {"seats": None, "region": "emea"}},
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["name"], body["domain"]) == ("Acme Inc", None)
    assert body["custom_fields"] == {"tier": "gold", "region": "emea"}
    assert body["owner_id"] == owner["id"]

    assert api.delete(f"/accounts/{created['id']}").status_code == 204
    missing = api.get(f"/accounts/{created['id']}")
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"account {created['id']} does not exist"
    assert api.patch(f"/accounts/{created['id']}", json={"name": "x"}).status_code == 404
    assert api.delete(f"/accounts/{created['id']}").status_code == 404


def test_read_lists_the_ids_of_its_deals(api: TestClient) -> None:
    account = _create(api)
    other = _create(api, name="Other")
    ids = [
        api.post(
            "/deals", json={"title": t, "value": 1, "stage": "lead", "account_id": account["id"]}
        ).json()["id"]
        for t in ("One", "Two")
    ]
    api.post("/deals", json={"title": "Elsewhere", "value": 1, "stage": "lead", "account_id": other["id"]})
    assert api.get(f"/accounts/{account['id']}").json()["deal_ids"] == ids
    listed = api.get("/accounts").json()["data"]
    assert [a["deal_ids"] for a in listed][0] == ids

    # Deleting the account keeps its deals, detached.
    assert api.delete(f"/accounts/{account['id']}").status_code == 204
    assert api.get(f"/deals/{ids[0]}").json()["account_id"] is None


def test_internationalised_domain_is_stored_as_punycode(api: TestClient) -> None:
    assert _create(api, domain="Bücher.de")["domain"] == "xn--bcher-kva.de"


@pytest.mark.parametrize(
    "domain",
    ["acme", "https://acme.com", "acme.com/about", "10.0.0.1", "-acme.com", "ac me.com", "a..com", ""],
)
def test_invalid_domain_is_422(api: TestClient, domain: str) -> None:
    response = api.post("/accounts", json={"name": "Acme", "domain": domain})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "domain"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "A", "custom_fields": {"bad key": 1}}, "custom_fields"),
        ({"name": "A", "website": "acme.com"}, "website"),
        ({"name": "A", "owner_id": 0}, "owner_id"),
    ],
)
def test_invalid_input_is_422_naming_the_field(api: TestClient, body: dict, field: str) -> None:
    response = api.post("/accounts", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_unknown_owner_is_422_and_nothing_is_written(api: TestClient) -> None:
    response = api.post("/accounts", json={"name": "Ghost", "owner_id": 999})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "owner_id"
    assert api.get("/accounts").json()["data"] == []

    account = _create(api)
    patched = api.patch(f"/accounts/{account['id']}", json={"name": "Renamed", "owner_id": 999})
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["field"] == "owner_id"
    assert api.get(f"/accounts/{account['id']}").json()["name"] == "Acme"


def test_patch_refuses_null_name(api: TestClient) -> None:
    account = _create(api)
    response = api.patch(f"/accounts/{account['id']}", json={"name": None})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"


def test_filters_and_cursor_pagination(api: TestClient) -> None:
    owner = _user(api)
    for n in range(5):
        _create(
            api,
            name=f"Company {n}",
            domain=f"c{n}.example.com",
            owner_id=owner["id"] if n % 2 == 0 else None,
        )
    first = api.get("/accounts", params={"limit": 2}).json()
    assert [a["name"] for a in first["data"]] == ["Company 0", "Company 1"]
    rest = api.get("/accounts", params={"limit": 10, "cursor": first["next_cursor"]}).json()
    assert [a["name"] for a in rest["data"]] == ["Company 2", "Company 3", "Company 4"]
    assert rest["next_cursor"] is None

    assert [a["name"] for a in api.get("/accounts", params={"q": "company 3"}).json()["data"]] == [
        "Company 3"
    ]
    by_domain = api.get("/accounts", params={"domain": "C1.Example.com"}).json()["data"]
    assert [a["name"] for a in by_domain] == ["Company 1"]
    owned = api.get("/accounts", params={"owner_id": owner["id"]}).json()["data"]
    assert [a["name"] for a in owned] == ["Company 0", "Company 2", "Company 4"]
