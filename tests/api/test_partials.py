"""Partials through the API: CRUD, names, validation, and partials in use."""

from fastapi.testclient import TestClient


def _partial(api: TestClient, name: str, body: str) -> dict:
    response = api.post("/partials", json={"name": name, "body": body})
    assert response.status_code == 201, response.text
    return response.json()


def _template(api: TestClient, name: str, html_body: str, layout_id: int | None = None) -> dict:
    response = api.post(
        "/templates",
        json={
            "name": name,
            "kind": "marketing",
            "subject": "s",
            "html_body": html_body,
            "layout_id": layout_id,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_create_read_update_delete(api: TestClient) -> None:
    created = _partial(api, "footer", "<p>Bye {{ sender.name }}</p>")
    assert (created["name"], created["body"]) == ("footer", "<p>Bye {{ sender.name }}</p>")
    assert api.get(f"/partials/{created['id']}").json() == created
    updated = api.patch(f"/partials/{created['id']}", json={"name": "Footer-v2", "body": "<p>Later</p>"})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["name"], updated.json()["body"]) == ("Footer-v2", "<p>Later</p>")
    assert api.delete(f"/partials/{created['id']}").status_code == 204
    missing = api.get(f"/partials/{created['id']}")
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"partial {created['id']} does not exist"
    assert api.patch("/partials/999", json={"body": "x"}).status_code == 404
    assert api.delete("/partials/999").status_code == 404


def test_list_search_and_pages(api: TestClient) -> None:
    for name in ["header", "footer", "footer_legal"]:
        _partial(api, name, "x")
    first = api.get("/partials", params={"limit": 2}).json()
    assert [p["name"] for p in first["data"]] == ["header", "footer"]
    second = api.get("/partials", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [p["name"] for p in second["data"]] == ["footer_legal"]
    assert second["next_cursor"] is None
    assert [p["name"] for p in api.get("/partials", params={"q": "FOOT"}).json()["data"]] == [
        "footer",
        "footer_legal",
    ]
    # `_` is a literal in searches, not a wildcard.
    assert [p["name"] for p in api.get("/partials", params={"q": "r_l"}).json()["data"]] == ["footer_legal"]


def test_names(api: TestClient) -> None:
    _partial(api, "footer", "x")
    other = _partial(api, "header", "x")
    clash = api.post("/partials", json={"name": "FOOTER", "body": "y"})
    assert clash.status_code == 409
    assert clash.json()["errors"][0] == {
        "field": "name",
        "message": "a partial named 'footer' already exists",
    }
    assert api.patch(f"/partials/{other['id']}", json={"name": "Footer"}).status_code == 409
    for name in ["foot er", "foot.er", "@html_body", "", "x" * 101]:
        response = api.post("/partials", json={"name": name, "body": "x"})
        assert response.status_code == 422, name
        assert response.json()["errors"][0]["field"] == "name"
    assert api.post("/partials", json={"name": "x", "body": "a\x00"}).json()["errors"][0]["field"] == "body"


def test_syntax_errors_and_cycles_are_422(api: TestClient) -> None:
    bad = api.post("/partials", json={"name": "footer", "body": "<p>\n{% if x %}\n</p>"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body"
    assert bad.json()["detail"].startswith("body: line 2: Unexpected end of template")
    unknown = api.post("/partials", json={"name": "footer", "body": "{% include 'legal' %}"})
    assert unknown.json()["detail"] == "body: line 1: unknown partial 'legal'"

    a = _partial(api, "a", "A")
    _partial(api, "b", "{% include 'a' %}")
    cycle = api.patch(f"/partials/{a['id']}", json={"body": "{% include 'b' %}"})
    assert cycle.status_code == 422
    assert "cycle" in cycle.json()["detail"]
    own = api.patch(f"/partials/{a['id']}", json={"body": "{% include 'a' %}"})
    assert own.status_code == 422
    assert api.get(f"/partials/{a['id']}").json()["body"] == "A"


def test_partial_in_use_cannot_be_deleted_or_renamed(api: TestClient) -> None:
    footer = _partial(api, "footer", "<p>bye</p>")
    legal = _partial(api, "legal", "<small>legal</small>")
    layout = _partial(api, "base", "{% block content %}{% endblock %}{% include 'Footer' %}")
    _template(api, "Welcome", "<p>hi</p>", layout_id=layout["id"])
    _template(api, "Receipt", "<p>paid</p>{% include 'LEGAL' %}")

    used_layout = api.delete(f"/partials/{layout['id']}")
    assert used_layout.status_code == 409
    assert used_layout.json()["detail"] == "partial 'base' is used by templates 'Welcome'"
    used_include = api.delete(f"/partials/{legal['id']}")
    assert used_include.json()["detail"] == "partial 'legal' is used by templates 'Receipt'"
    used_by_partial = api.delete(f"/partials/{footer['id']}")
    assert used_by_partial.status_code == 409
    assert used_by_partial.json()["detail"] == "partial 'footer' is used by partials 'base'"
    renamed = api.patch(f"/partials/{footer['id']}", json={"name": "signoff"})
    assert renamed.status_code == 409
    assert renamed.json()["errors"][0]["field"] == "name"
    # A layout keeps its content block.
    emptied = api.patch(f"/partials/{layout['id']}", json={"body": "<p>no block</p>"})
    assert emptied.status_code == 422
    assert "template 'Welcome' would lose the {% block content %}" in emptied.json()["detail"]
    assert [p["name"] for p in api.get("/partials").json()["data"]] == ["footer", "legal", "base"]

    # Once nothing uses them, they go.
    unused = _partial(api, "unused", "x")
    assert api.delete(f"/partials/{unused['id']}").status_code == 204
    receipt = api.get("/templates", params={"q": "Receipt"}).json()["data"][0]
    assert api.delete(f"/templates/{receipt['id']}").status_code == 204
    assert api.delete(f"/partials/{legal['id']}").status_code == 204
