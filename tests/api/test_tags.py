"""Tags through the API: CRUD, counts, case-insensitive names, deletion off every contact."""

from fastapi.testclient import TestClient


def _tag(api: TestClient, name: str) -> dict:
    response = api.post("/tags", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


def _contact(api: TestClient, email: str, tags: list[str]) -> dict:
    response = api.post("/contacts", json={"email": email, "tags": tags})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_read_rename_delete(api: TestClient) -> None:
    created = _tag(api, " VIP ")
    assert (created["name"], created["contact_count"]) == ("VIP", 0)
    assert api.get(f"/tags/{created['id']}").json() == created

    renamed = api.patch(f"/tags/{created['id']}", json={"name": "Gold"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Gold"
    # Another casing of its own name is a rename, not a clash.
    recased = api.patch(f"/tags/{created['id']}", json={"name": "GOLD"})
    assert recased.status_code == 200 and recased.json()["name"] == "GOLD"

    assert api.delete(f"/tags/{created['id']}").status_code == 204
    missing = api.get(f"/tags/{created['id']}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == f"tag {created['id']} does not exist"


def test_duplicate_name_ignoring_case_is_409(api: TestClient) -> None:
    _tag(api, "Lead")
    other = _tag(api, "customer")
    response = api.post("/tags", json={"name": "LEAD"})
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "name"
    clash = api.patch(f"/tags/{other['id']}", json={"name": "lead"})
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "name"
    assert api.get(f"/tags/{other['id']}").json()["name"] == "customer"


def test_invalid_input_and_unknown_ids(api: TestClient) -> None:
    for body, field in [({"name": ""}, "name"), ({"name": "x" * 101}, "name"), ({}, "name")]:
        response = api.post("/tags", json=body)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == field
    assert api.post("/tags", json={"name": "a", "color": "red"}).json()["errors"][0]["field"] == "color"
    assert api.patch("/tags/999", json={"name": "x"}).status_code == 404
    assert api.delete("/tags/999").status_code == 404


def test_counts_filter_and_pagination(api: TestClient) -> None:
    _contact(api, "a@example.com", ["lead", "beta"])
    _contact(api, "b@example.com", ["lead"])
    _tag(api, "lead-magnet")
    first = api.get("/tags", params={"limit": 2}).json()
    assert [(t["name"], t["contact_count"]) for t in first["data"]] == [("lead", 2), ("beta", 1)]
    second = api.get("/tags", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [(t["name"], t["contact_count"]) for t in second["data"]] == [("lead-magnet", 0)]
    assert second["next_cursor"] is None
    found = api.get("/tags", params={"q": "LEAD"}).json()["data"]
    assert [t["name"] for t in found] == ["lead", "lead-magnet"]


def test_rename_shows_on_contacts(api: TestClient) -> None:
    contact = _contact(api, "a@example.com", ["lead"])
    tag = api.get("/tags").json()["data"][0]
    api.patch(f"/tags/{tag['id']}", json={"name": "Prospect"})
    assert api.get(f"/contacts/{contact['id']}").json()["tags"] == ["Prospect"]
    assert api.get("/contacts", params={"tag": "prospect"}).json()["data"][0]["id"] == contact["id"]


def test_delete_removes_tag_from_every_contact_with_activity(api: TestClient) -> None:
    ada = _contact(api, "ada@example.com", ["lead", "vip"])
    bob = _contact(api, "bob@example.com", ["lead"])
    lead = next(t for t in api.get("/tags").json()["data"] if t["name"] == "lead")
    assert api.delete(f"/tags/{lead['id']}").status_code == 204

    assert api.get(f"/contacts/{ada['id']}").json()["tags"] == ["vip"]
    assert api.get(f"/contacts/{bob['id']}").json()["tags"] == []
    for contact in (ada, bob):
        latest = api.get(f"/contacts/{contact['id']}/activity").json()["data"][0]
        assert (latest["type"], latest["data"]) == ("tag.removed", {"tag": "lead"})
    assert [t["name"] for t in api.get("/tags").json()["data"]] == ["vip"]
    # The name can be used again, by a fresh tag no contact carries.
    assert _tag(api, "lead")["contact_count"] == 0


def test_api_key_is_required(anonymous: TestClient) -> None:
    for method, path in [
        ("GET", "/tags"),
        ("POST", "/tags"),
        ("GET", "/tags/1"),
        ("PATCH", "/tags/1"),
        ("DELETE", "/tags/1"),
    ]:
        response = anonymous.request(method, path, json={})
        assert response.status_code == 401, (method, path)
