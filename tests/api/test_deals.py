"""Deals through the API: CRUD, money, references, contacts and their activity, filters."""

import pytest
from fastapi.testclient import TestClient


def _contact(api: TestClient, email: str) -> int:
    response = api.post("/contacts", json={"email": email})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _create(api: TestClient, **fields: object) -> dict:
    response = api.post("/deals", json={"title": "Pilot", "value": "1500", "stage": "lead", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _deal_events(api: TestClient, contact_id: int) -> list[tuple[str, dict]]:
    """The contact's deal events, oldest first."""
    events = api.get(f"/contacts/{contact_id}/activity").json()["data"]
    return [(e["type"], e["data"]) for e in reversed(events) if e["type"].startswith("deal.")]


def test_create_read_update_delete(api: TestClient) -> None:
    owner = api.post("/users", json={"email": "rep@example.com", "name": "Rep"}).json()
    account = api.post("/accounts", json={"name": "Acme"}).json()
    created = _create(api, value=1500, currency="eur", owner_id=owner["id"], account_id=account["id"])
    assert created["value"] == "1500.00"
    assert created["currency"] == "EUR"
    assert (created["stage"], created["owner_id"], created["account_id"]) == (
        "lead",
        owner["id"],
        account["id"],
    )
    assert created["contact_ids"] == []
    assert api.get(f"/deals/{created['id']}").json() == created

    updated = api.patch(
        f"/deals/{created['id']}",
        json={"title": "Rollout", "value": "99999999999.99", "stage": "won", "owner_id": None},
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["title"], body["value"], body["stage"]) == ("Rollout", "99999999999.99", "won")
    assert body["owner_id"] is None and body["account_id"] == account["id"]

    assert api.delete(f"/deals/{created['id']}").status_code == 204
    missing = api.get(f"/deals/{created['id']}")
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"deal {created['id']} does not exist"
    assert api.patch(f"/deals/{created['id']}", json={"stage": "x"}).status_code == 404
    assert api.delete(f"/deals/{created['id']}").status_code == 404


def test_defaults_and_exact_cents(api: TestClient) -> None:
    deal = _create(api, value=0.1)
    assert (deal["value"], deal["currency"]) == ("0.10", "USD")
    assert _create(api, value="1234567.89")["value"] == "1234567.89"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": -1}, "value"),
        ({"value": "1.234"}, "value"),
        ({"value": "lots"}, "value"),
        ({"value": "NaN"}, "value"),
        ({"value": "1000000000000"}, "value"),
        ({"currency": "US"}, "currency"),
        ({"currency": "US1"}, "currency"),
        ({"stage": "  "}, "stage"),
        ({"title": ""}, "title"),
        ({"contact_ids": [0]}, "contact_ids[0]"),
        ({"probability": 50}, "probability"),
    ],
)
def test_invalid_input_is_422_naming_the_field(api: TestClient, body: dict, field: str) -> None:
    response = api.post("/deals", json={"title": "T", "value": 1, "stage": "lead", **body})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize("field", ["title", "value", "stage"])
def test_required_fields(api: TestClient, field: str) -> None:
    body = {"title": "T", "value": 1, "stage": "lead"}
    del body[field]
    response = api.post("/deals", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"owner_id": 999}, "owner_id"),
        ({"account_id": 999}, "account_id"),
        ({"contact_ids": ["KNOWN", 999]}, "contact_ids[1]"),
    ],
)
def test_unknown_reference_is_422_and_nothing_is_written(api: TestClient, body: dict, field: str) -> None:
    known = _contact(api, "known@example.com")
    if "contact_ids" in body:
        body = {"contact_ids": [known if c == "KNOWN" else c for c in body["contact_ids"]]}
    response = api.post("/deals", json={"title": "T", "value": 1, "stage": "lead", **body})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert api.get("/deals").json()["data"] == []
    assert _deal_events(api, known) == []

    deal = _create(api, contact_ids=[known])
    patched = api.patch(f"/deals/{deal['id']}", json={"stage": "won", **body})
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["field"] == field
    assert api.get(f"/deals/{deal['id']}").json() == deal
    assert [t for t, _ in _deal_events(api, known)] == ["deal.contact_added"]


def test_patch_refuses_nulls(api: TestClient) -> None:
    deal = _create(api)
    for field in ("title", "value", "currency", "stage", "contact_ids"):
        response = api.patch(f"/deals/{deal['id']}", json={field: None})
        assert response.status_code == 422, field
        assert response.json()["errors"][0]["field"] == field


def test_contacts_hear_of_joining_leaving_and_stage_changes(api: TestClient) -> None:
    ada, bob, cy = (_contact(api, f"{n}@example.com") for n in ("ada", "bob", "cy"))
    deal = _create(api, contact_ids=[bob, ada, ada])
    assert deal["contact_ids"] == [ada, bob]
    about = {"deal_id": deal["id"], "title": "Pilot"}
    assert _deal_events(api, ada) == [("deal.contact_added", {**about, "stage": "lead"})]

    # Replace the contacts: bob leaves, cy joins, ada stays; the stage moves in the same change.
    patched = api.patch(f"/deals/{deal['id']}", json={"contact_ids": [cy, ada], "stage": "demo"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["contact_ids"] == [ada, cy]
    stage_changed = ("deal.stage_changed", {**about, "stage": "demo", "previous_stage": "lead"})
    assert _deal_events(api, ada)[1:] == [stage_changed]
    assert _deal_events(api, bob)[1:] == [("deal.contact_removed", {**about, "stage": "demo"})]
    assert _deal_events(api, cy) == [("deal.contact_added", {**about, "stage": "demo"})]

    # A patch that leaves the stage and contacts as they are adds no events.
    assert api.patch(f"/deals/{deal['id']}", json={"stage": "demo", "value": 2}).status_code == 200
    assert len(_deal_events(api, ada)) == 2

    api.patch(f"/deals/{deal['id']}", json={"stage": "won"})
    assert [t for t, _ in _deal_events(api, cy)] == ["deal.contact_added", "deal.stage_changed"]
    assert len(_deal_events(api, bob)) == 2

    assert api.patch(f"/deals/{deal['id']}", json={"contact_ids": []}).json()["contact_ids"] == []
    assert _deal_events(api, ada)[-1][0] == "deal.contact_removed"


def test_deleting_a_deal_or_a_contact(api: TestClient) -> None:
    ada, bob = _contact(api, "ada@example.com"), _contact(api, "bob@example.com")
    deal = _create(api, contact_ids=[ada, bob])

    # A deleted contact leaves the deal (ON DELETE CASCADE on deal_contacts).
    assert api.delete(f"/contacts/{bob}").status_code == 204
    assert api.get(f"/deals/{deal['id']}").json()["contact_ids"] == [ada]

    assert api.delete(f"/deals/{deal['id']}").status_code == 204
    assert _deal_events(api, ada)[-1] == (
        "deal.contact_removed",
        {"deal_id": deal["id"], "title": "Pilot", "stage": "lead", "deal_deleted": True},
    )
    assert api.get("/deals", params={"contact_id": ada}).json()["data"] == []


def test_filters_and_cursor_pagination(api: TestClient) -> None:
    owner = api.post("/users", json={"email": "rep@example.com", "name": "Rep"}).json()
    account = api.post("/accounts", json={"name": "Acme"}).json()
    ada = _contact(api, "ada@example.com")
    deals = [
        _create(api, title="D0", stage="Lead", owner_id=owner["id"]),
        _create(api, title="D1", stage="won", account_id=account["id"]),
        _create(api, title="D2", stage="lead", contact_ids=[ada]),
        _create(api, title="D3", stage="lost", owner_id=owner["id"], account_id=account["id"]),
        _create(api, title="D4", stage="won", contact_ids=[ada]),
    ]
    first = api.get("/deals", params={"limit": 2}).json()
    assert [d["title"] for d in first["data"]] == ["D0", "D1"]
    second = api.get("/deals", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    third = api.get("/deals", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [d["title"] for d in second["data"] + third["data"]] == ["D2", "D3", "D4"]
    assert third["next_cursor"] is None
    assert third["data"][0]["contact_ids"] == [ada]

    def titles(**params: object) -> list[str]:
        return [d["title"] for d in api.get("/deals", params=params).json()["data"]]

    assert titles(stage="LEAD") == ["D0", "D2"]
    assert titles(owner_id=owner["id"]) == ["D0", "D3"]
    assert titles(account_id=account["id"]) == ["D1", "D3"]
    assert titles(contact_id=ada) == ["D2", "D4"]
    assert titles(stage="won", contact_id=ada) == ["D4"]
    assert api.get(f"/accounts/{account['id']}").json()["deal_ids"] == [deals[1]["id"], deals[3]["id"]]
