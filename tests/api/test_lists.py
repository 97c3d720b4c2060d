"""Lists and subscriptions through the API: CRUD, counts, consent evidence, activity, bad input."""

from fastapi.testclient import TestClient

NO_MEMBERS = {"subscribed": 0, "unsubscribed": 0, "pending": 0}


def _list(api: TestClient, name: str = "Newsletter", **fields: object) -> dict:
    response = api.post("/lists", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _contact(api: TestClient, email: str = "ada@example.com") -> dict:
    response = api.post("/contacts", json={"email": email})
    assert response.status_code == 201, response.text
    return response.json()


def _subscribe(api: TestClient, list_id: int, contact_id: int, **fields: object) -> dict:
    response = api.post(f"/lists/{list_id}/subscriptions", json={"contact_id": contact_id, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _activity(api: TestClient, contact_id: int) -> list[dict]:
    return api.get(f"/contacts/{contact_id}/activity").json()["data"]


def test_create_read_update_delete(api: TestClient) -> None:
    created = _list(api, "  Newsletter ", description="Monthly news")
    assert created["name"] == "Newsletter"
    assert created["description"] == "Monthly news"
    assert created["counts"] == NO_MEMBERS
    assert api.get(f"/lists/{created['id']}").json() == created

    updated = api.patch(f"/lists/{created['id']}", json={"name": "News", "description": None})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["name"], updated.json()["description"]) == ("News", None)
    assert api.get(f"/lists/{created['id']}").json()["name"] == "News"

    assert api.delete(f"/lists/{created['id']}").status_code == 204
    missing = api.get(f"/lists/{created['id']}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == f"list {created['id']} does not exist"


def test_duplicate_name_is_409_on_create_and_rename(api: TestClient) -> None:
    _list(api, "Newsletter")
    other = _list(api, "Product updates")
    response = api.post("/lists", json={"name": "newsLETTER"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "name"
    clash = api.patch(f"/lists/{other['id']}", json={"name": "Newsletter"})
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "name"
    # Keeping its own name is not a clash.
    assert api.patch(f"/lists/{other['id']}", json={"name": "Product updates"}).status_code == 200


def test_invalid_list_input_is_422_naming_the_field(api: TestClient) -> None:
    assert api.post("/lists", json={"name": "  "}).json()["errors"][0]["field"] == "name"
    assert api.post("/lists", json={"name": "A", "colour": "red"}).json()["errors"][0]["field"] == "colour"
    created = _list(api)
    response = api.patch(f"/lists/{created['id']}", json={"name": None})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"


def test_unknown_list_is_404_everywhere(api: TestClient) -> None:
    contact = _contact(api)
    assert api.patch("/lists/999", json={"name": "X"}).status_code == 404
    assert api.delete("/lists/999").status_code == 404
    assert api.get("/lists/999/subscriptions").status_code == 404
    response = api.post("/lists/999/subscriptions", json={"contact_id": contact["id"]})
    assert response.status_code == 404
    assert response.json()["detail"] == "list 999 does not exist"


def test_filter_and_cursor_pagination(api: TestClient) -> None:
    for name in ["Alpha news", "Beta", "Gamma news", "Delta"]:
        _list(api, name)
    first = api.get("/lists", params={"limit": 3}).json()
    assert [x["name"] for x in first["data"]] == ["Alpha news", "Beta", "Gamma news"]
    second = api.get("/lists", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [x["name"] for x in second["data"]] == ["Delta"]
    assert second["next_cursor"] is None
    found = api.get("/lists", params={"q": "NEWS"}).json()["data"]
    assert [x["name"] for x in found] == ["Alpha news", "Gamma news"]


def test_subscribe_shows_on_list_counts_and_contact(api: TestClient) -> None:
    newsletter = _list(api)
    ada, bob, cy = (_contact(api, f"{n}@example.com") for n in ("ada", "bob", "cy"))
    sub = _subscribe(api, newsletter["id"], ada["id"], consent_source="signup form", consent_ip="203.0.113.9")
    assert sub["list_id"] == newsletter["id"] and sub["contact_id"] == ada["id"]
    assert sub["email"] == "ada@example.com"
    assert (sub["status"], sub["consent_source"], sub["consent_ip"]) == (
        "subscribed",
        "signup form",
        "203.0.113.9",
    )
    assert sub["consent_at"] is not None and sub["unsubscribed_at"] is None
    _subscribe(api, newsletter["id"], bob["id"], status="pending")
    _subscribe(api, newsletter["id"], cy["id"], status="unsubscribed")

    counts = api.get(f"/lists/{newsletter['id']}").json()["counts"]
    assert counts == {"subscribed": 1, "unsubscribed": 1, "pending": 1}
    assert api.get("/lists").json()["data"][0]["counts"] == counts
    assert api.get(f"/lists/{newsletter['id']}/subscriptions/{ada['id']}").json() == sub

    membership = api.get(f"/contacts/{ada['id']}").json()["lists"]
    assert membership == [
        {
            "list_id": newsletter["id"],
            "status": "subscribed",
            "consent_source": "signup form",
            "consent_at": sub["consent_at"],
        }
    ]
    assert _activity(api, ada["id"])[0]["type"] == "list.subscribed"


def test_subscriptions_filter_and_pagination(api: TestClient) -> None:
    newsletter = _list(api)
    for n in range(4):
        contact = _contact(api, f"p{n}@example.com")
        _subscribe(api, newsletter["id"], contact["id"], status="pending" if n % 2 else "subscribed")
    path = f"/lists/{newsletter['id']}/subscriptions"
    first = api.get(path, params={"limit": 3}).json()
    assert [s["email"] for s in first["data"]] == ["p0@example.com", "p1@example.com", "p2@example.com"]
    second = api.get(path, params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [s["email"] for s in second["data"]] == ["p3@example.com"]
    assert second["next_cursor"] is None
    pending = api.get(path, params={"status": "pending"}).json()["data"]
    assert [s["email"] for s in pending] == ["p1@example.com", "p3@example.com"]
    bad = api.get(path, params={"status": "maybe"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


def test_resubscribe_records_new_consent_but_repeat_keeps_original(api: TestClient) -> None:
    """Consent evidence is written when a contact becomes subscribed: a repeated subscribe
    keeps the original evidence, while re-subscribing after unsubscribing records new consent."""
    newsletter = _list(api)
    ada = _contact(api)
    path = f"/lists/{newsletter['id']}/subscriptions"
    first = _subscribe(
        api, newsletter["id"], ada["id"], consent_source="form", consent_at="2024-01-02T03:04:05Z"
    )
    assert first["consent_at"] == "2024-01-02T03:04:05Z"

    repeat = api.post(path, json={"contact_id": ada["id"], "consent_source": "import"})
    assert repeat.status_code == 200
    assert (repeat.json()["consent_source"], repeat.json()["consent_at"]) == ("form", "2024-01-02T03:04:05Z")

    left = api.patch(f"{path}/{ada['id']}", json={"status": "unsubscribed"})
    assert left.status_code == 200, left.text
    assert left.json()["status"] == "unsubscribed"
    assert left.json()["unsubscribed_at"] is not None
    # The evidence of the consent that was withdrawn stays on the row.
    assert left.json()["consent_source"] == "form"

    back = api.patch(
        f"{path}/{ada['id']}",
        json={"status": "subscribed", "consent_source": "preference centre", "consent_ip": "::1"},
    )
    assert back.status_code == 200, back.text
    body = back.json()
    assert (body["status"], body["consent_source"], body["consent_ip"]) == (
        "subscribed",
        "preference centre",
        "::1",
    )
    assert body["consent_at"] > first["consent_at"] and body["unsubscribed_at"] is None
    assert body["id"] == first["id"] and body["created_at"] == first["created_at"]

    types = [e["type"] for e in _activity(api, ada["id"])]
    assert types == ["list.subscribed", "list.unsubscribed", "list.subscribed", "contact.created"]


def test_pending_then_confirmed(api: TestClient) -> None:
    newsletter = _list(api)
    ada = _contact(api)
    pending = _subscribe(api, newsletter["id"], ada["id"], status="pending", consent_source="form")
    assert pending["consent_at"] is None
    confirmed = api.post(
        f"/lists/{newsletter['id']}/subscriptions",
        json={"contact_id": ada["id"], "consent_source": "double opt-in"},
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "subscribed"
    assert confirmed.json()["consent_at"] is not None
    assert [e["type"] for e in _activity(api, ada["id"])][:2] == ["list.subscribed", "list.pending"]


def test_bad_subscription_input_names_the_field(api: TestClient) -> None:
    newsletter = _list(api)
    ada = _contact(api)
    path = f"/lists/{newsletter['id']}/subscriptions"
    cases = [
        ({"contact_id": 999}, "contact_id"),
        ({"contact_id": ada["id"], "consent_ip": "300.1.1.1"}, "consent_ip"),
        ({"contact_id": ada["id"], "status": "maybe"}, "status"),
        ({"contact_id": ada["id"], "consent_at": "2024-01-02T03:04:05"}, "consent_at"),
        ({"status": "subscribed"}, "contact_id"),
    ]
    for body, field in cases:
        response = api.post(path, json=body)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == field
    # Nothing was written by the refused requests.
    assert api.get(path).json()["data"] == []
    assert [e["type"] for e in _activity(api, ada["id"])] == ["contact.created"]

    _subscribe(api, newsletter["id"], ada["id"])
    response = api.patch(f"{path}/{ada['id']}", json={"status": "subscribed", "consent_ip": "x"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "consent_ip"


def test_remove_subscription_keeps_contact_and_records_it(api: TestClient) -> None:
    newsletter = _list(api)
    ada = _contact(api)
    _subscribe(api, newsletter["id"], ada["id"])
    path = f"/lists/{newsletter['id']}/subscriptions/{ada['id']}"
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404
    assert api.get(f"/contacts/{ada['id']}").json()["lists"] == []
    removed = _activity(api, ada["id"])[0]
    assert removed["type"] == "list.removed"
    assert removed["data"] == {"list_id": newsletter["id"], "status": "subscribed"}
    assert api.get(f"/lists/{newsletter['id']}").json()["counts"] == NO_MEMBERS


def test_unknown_subscription_is_404(api: TestClient) -> None:
    newsletter = _list(api)
    ada = _contact(api)
    path = f"/lists/{newsletter['id']}/subscriptions/{ada['id']}"
    assert api.get(path).status_code == 404
    response = api.patch(path, json={"status": "unsubscribed"})
    assert response.status_code == 404
    assert response.json()["detail"] == (
        f"subscription of contact {ada['id']} to list {newsletter['id']} does not exist"
    )


def test_delete_list_removes_subscriptions_not_contacts(api: TestClient) -> None:
    newsletter = _list(api)
    other = _list(api, "Other")
    ada = _contact(api)
    _subscribe(api, newsletter["id"], ada["id"])
    _subscribe(api, other["id"], ada["id"])
    assert api.delete(f"/lists/{newsletter['id']}").status_code == 204
    contact = api.get(f"/contacts/{ada['id']}")
    assert contact.status_code == 200
    assert [m["list_id"] for m in contact.json()["lists"]] == [other["id"]]
    removed = _activity(api, ada["id"])[0]
    assert removed["type"] == "list.removed"
    assert removed["data"]["list"] == "Newsletter"
    # The name is free again.
    _list(api, "Newsletter")


def test_api_key_is_required(anonymous: TestClient) -> None:
    for method, path in [
        ("GET", "/lists"),
        ("POST", "/lists"),
        ("GET", "/lists/1"),
        ("DELETE", "/lists/1"),
        ("GET", "/lists/1/subscriptions"),
        ("POST", "/lists/1/subscriptions"),
        ("PATCH", "/lists/1/subscriptions/1"),
    ]:
        response = anonymous.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"


def test_consent_given_in_the_future_is_refused(api: TestClient) -> None:
    news = api.post("/lists", json={"name": "Future"}).json()
    contact = api.post("/contacts", json={"email": "f@example.com"}).json()
    response = api.post(
        f"/lists/{news['id']}/subscriptions",
        json={"contact_id": contact["id"], "consent_at": "2999-01-01T00:00:00Z"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0] == {"field": "consent_at", "message": "may not be in the future"}
