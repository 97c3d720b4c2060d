"""Contacts through the API: CRUD, filters, tags, list memberships, activity, and bad input."""

import base64

from fastapi.testclient import TestClient


def _create(api: TestClient, **fields: object) -> dict:
    response = api.post("/contacts", json={"email": "ada@example.com", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_read_update_delete(api: TestClient) -> None:
    created = _create(
        api,
        email="Ada@Example.com",
        first_name="Ada",
        last_name="Lovelace",
        timezone="Europe/London",
        custom_fields={"plan": "pro", "seats": 3},
        tags=["VIP", "beta"],
    )
    assert created["email"] == "ada@example.com"
    assert created["tags"] == ["beta", "VIP"]
    assert created["status"] == "active"

    fetched = api.get(f"/contacts/{created['id']}").json()
    assert fetched == created

    updated = api.patch(
        f"/contacts/{created['id']}",
        json={"first_name": "Augusta", "custom_fields": {"seats": None, "role": "cto"}},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["first_name"] == "Augusta"
    assert updated.json()["custom_fields"] == {"plan": "pro", "role": "cto"}

    assert api.delete(f"/contacts/{created['id']}").status_code == 204
    missing = api.get(f"/contacts/{created['id']}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == f"contact {created['id']} does not exist"


def test_duplicate_email_is_409_ignoring_case(api: TestClient) -> None:
    _create(api)
    response = api.post("/contacts", json={"email": "ADA@example.com"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "email"


def test_invalid_email_is_422_naming_the_field(api: TestClient) -> None:
    response = api.post("/contacts", json={"email": "not-an-email"})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "email"
    assert "email" in body["detail"]


def test_unknown_field_and_bad_timezone_are_named(api: TestClient) -> None:
    response = api.post(
        "/contacts", json={"email": "a@example.com", "fist_name": "A", "timezone": "Mars/Base"}
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"fist_name", "timezone"}


def test_malformed_json_is_400(api: TestClient) -> None:
    response = api.post("/contacts", content=b'{"email": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["title"] == "Malformed JSON"


def test_unknown_list_refuses_the_whole_contact(api: TestClient) -> None:
    response = api.post(
        "/contacts", json={"email": "a@example.com", "tags": ["x"], "lists": [{"list_id": 999}]}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lists[0].list_id"
    # Nothing half-written: neither the contact nor its tag exists.
    assert api.get("/contacts", params={"email": "a@example.com"}).json()["data"] == []


def test_filters_and_cursor_pagination(api: TestClient) -> None:
    for n in range(5):
        _create(api, email=f"p{n}@example.com", tags=["even"] if n % 2 == 0 else [])
    first = api.get("/contacts", params={"limit": 2}).json()
    assert [c["email"] for c in first["data"]] == ["p0@example.com", "p1@example.com"]
    second = api.get("/contacts", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [c["email"] for c in second["data"]] == ["p2@example.com", "p3@example.com"]
    third = api.get("/contacts", params={"limit": 2, "cursor": second["next_cursor"]}).json()
    assert [c["email"] for c in third["data"]] == ["p4@example.com"]
    assert third["next_cursor"] is None

    even = api.get("/contacts", params={"tag": "EVEN"}).json()["data"]
    assert [c["email"] for c in even] == ["p0@example.com", "p2@example.com", "p4@example.com"]
    assert [c["email"] for c in api.get("/contacts", params={"q": "p3"}).json()["data"]] == ["p3@example.com"]
    bad = api.get("/contacts", params={"cursor": "garbage!"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "cursor"
    # A cursor belongs to its resource and filters.
    elsewhere = api.get("/lists", params={"cursor": first["next_cursor"]})
    assert elsewhere.status_code == 400 and "another resource" in elsewhere.json()["detail"]
    refiltered = api.get("/contacts", params={"cursor": first["next_cursor"], "tag": "even"})
    assert refiltered.status_code == 400
    for forged in ('{"after": true, "scope": "x"}', '{"after": 99999999999999999999, "scope": "x"}'):
        token = base64.urlsafe_b64encode(forged.encode()).decode()
        assert api.get("/contacts", params={"cursor": token}).status_code == 400


def test_tags_and_activity_stream(api: TestClient) -> None:
    contact = _create(api)
    tagged = api.post(f"/contacts/{contact['id']}/tags", json={"tags": ["lead", "Lead", "customer"]})
    assert tagged.json()["tags"] == ["customer", "lead"]
    untagged = api.delete(f"/contacts/{contact['id']}/tags/LEAD")
    assert untagged.json()["tags"] == ["customer"]
    assert api.delete(f"/contacts/{contact['id']}/tags/lead").status_code == 404

    activity = api.get(f"/contacts/{contact['id']}/activity").json()["data"]
    assert [e["type"] for e in activity] == ["tag.removed", "tag.added", "tag.added", "contact.created"]
    assert activity[0]["data"] == {"tag": "lead"}


def test_unknown_owner_is_422(api: TestClient) -> None:
    response = api.post("/contacts", json={"email": "a@example.com", "owner_id": 42})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "owner_id"


def test_a_duplicate_that_races_past_the_check_is_409_not_500(api: TestClient, monkeypatch) -> None:
    from nurture.crud import contacts as crud

    _create(api)
    # Simulate the race: the lookup misses the contact another request has just written.
    monkeypatch.setattr(crud, "get_contact_by_email", lambda *a, **k: None)
    response = api.post("/contacts", json={"email": "ada@example.com"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


def test_contact_belongs_to_an_account(api: TestClient) -> None:
    account = api.post("/accounts", json={"name": "Acme", "domain": "acme.com"}).json()
    contact = _create(api, account_id=account["id"])
    assert contact["account_id"] == account["id"]
    listed = api.get("/contacts", params={"account_id": account["id"]}).json()["data"]
    assert [c["id"] for c in listed] == [contact["id"]]
    unknown = api.patch(f"/contacts/{contact['id']}", json={"account_id": 999})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "account_id"
    # Deleting the account keeps the contact, without an account.
    assert api.delete(f"/accounts/{account['id']}").status_code == 204
    assert api.get(f"/contacts/{contact['id']}").json()["account_id"] is None


def test_consent_ip_on_create_must_be_an_address(api: TestClient) -> None:
    lst = api.post("/lists", json={"name": "News"}).json()
    bad = api.post(
        "/contacts",
        json={"email": "a@example.com", "lists": [{"list_id": lst["id"], "consent_ip": "not-an-ip"}]},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "lists[0].consent_ip"


def test_ids_beyond_a_bigint_are_422_not_a_crash(api: TestClient) -> None:
    for path in ("/contacts/99999999999999999999", "/lists/9223372036854775808", "/contacts/0"):
        response = api.get(path)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["errors"][0]["field"] in {"contact_id", "list_id"}
    response = api.get("/contacts", params={"owner_id": 2**63})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "owner_id"


def test_nul_characters_and_nested_custom_values_are_refused_by_name(api: TestClient) -> None:
    nul = api.post("/contacts", json={"email": "a@example.com", "first_name": "A\x00B"})
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "first_name"
    nested = api.post("/contacts", json={"email": "a@example.com", "custom_fields": {"plan": {"x": 1}}})
    assert nested.status_code == 422
    assert nested.json()["errors"] == [
        {
            "field": "custom_fields",
            "message": "'plan' must be a string, number, boolean or null, not a list or object",
        }
    ]
    not_finite = api.post(
        "/contacts",
        content=b'{"email": "a@example.com", "custom_fields": {"score": NaN}}',
        headers={"content-type": "application/json"},
    )
    assert not_finite.status_code == 422
    assert api.get("/contacts").json()["data"] == []


def test_search_matches_percent_and_underscore_literally(api: TestClient) -> None:
    _create(api, email="ada@example.com")
    _create(api, email="100%_sure@example.com")
    found = api.get("/contacts", params={"q": "%_"}).json()["data"]
    assert [c["email"] for c in found] == ["100%_sure@example.com"]
    assert api.get("/contacts", params={"q": "_"}).json()["data"][0]["email"] == "100%_sure@example.com"
    assert len(api.get("/contacts", params={"q": "_"}).json()["data"]) == 1


def test_oversized_bodies_are_413(api: TestClient) -> None:
    huge = {"email": "a@example.com", "first_name": "x" * (2 * 1024 * 1024)}
    response = api.post("/contacts", json=huge)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The request body is over 1,048,576 bytes"


def test_oversized_chunked_bodies_are_413_too(api: TestClient) -> None:
    def chunks():
        for _ in range(40):
            yield b"x" * 65536

    response = api.post("/contacts", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"] == "The request body is over 1,048,576 bytes"


def test_list_filter_by_subscription_status(api: TestClient) -> None:
    news = api.post("/lists", json={"name": "News"}).json()
    stays = _create(api, email="stays@example.com", lists=[{"list_id": news["id"]}])
    leaves = _create(api, email="leaves@example.com", lists=[{"list_id": news["id"]}])
    api.patch(f"/lists/{news['id']}/subscriptions/{leaves['id']}", json={"status": "unsubscribed"})
    every = api.get("/contacts", params={"list_id": news["id"]}).json()["data"]
    assert {c["id"] for c in every} == {stays["id"], leaves["id"]}
    subscribed = api.get("/contacts", params={"list_id": news["id"], "list_status": "subscribed"})
    assert [c["id"] for c in subscribed.json()["data"]] == [stays["id"]]
    alone = api.get("/contacts", params={"list_status": "subscribed"})
    assert alone.status_code == 422 and alone.json()["errors"][0]["field"] == "list_status"


def test_tags_with_a_slash_can_be_removed(api: TestClient) -> None:
    contact = _create(api, tags=["a/b"])
    removed = api.delete(f"/contacts/{contact['id']}/tags/a/b")
    assert removed.status_code == 200 and removed.json()["tags"] == []
    again = api.delete(f"/contacts/{contact['id']}/tags/a/b")
    assert again.json()["detail"] == f"contact {contact['id']} has no tag 'a/b'"


def test_custom_fields_may_not_be_nulled_wholesale(api: TestClient) -> None:
    contact = _create(api, custom_fields={"plan": "pro"})
    response = api.patch(f"/contacts/{contact['id']}", json={"custom_fields": None})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "custom_fields"
