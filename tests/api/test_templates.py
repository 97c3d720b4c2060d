"""Templates through the API: CRUD, validation on save naming field and line, previews."""

from fastapi.testclient import TestClient


def _template(api: TestClient, **fields: object) -> dict:
    body: dict[str, object] = {
        "name": "Welcome",
        "kind": "marketing",
        "subject": "Welcome, {{ contact.first_name }}",
        "html_body": "<p>Hello {{ contact.first_name }}</p>",
    }
    body.update(fields)
    response = api.post("/templates", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _partial(api: TestClient, name: str, body: str) -> dict:
    response = api.post("/partials", json={"name": name, "body": body})
    assert response.status_code == 201, response.text
    return response.json()


def _problem(response, status: int, field: str) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"][0]["field"] == field
    return str(problem["detail"])


def test_create_read_update_delete(api: TestClient) -> None:
    created = _template(api, name=" Welcome ", text_body="Hi {{ contact.first_name }}")
    assert (created["name"], created["kind"], created["layout_id"]) == ("Welcome", "marketing", None)
    assert created["text_body"] == "Hi {{ contact.first_name }}"
    assert api.get(f"/templates/{created['id']}").json() == created

    updated = api.patch(
        f"/templates/{created['id']}",
        json={"subject": "Hello again", "text_body": None, "kind": "transactional"},
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["subject"], body["text_body"], body["kind"]) == ("Hello again", None, "transactional")
    assert body["html_body"] == created["html_body"]

    assert api.delete(f"/templates/{created['id']}").status_code == 204
    missing = api.get(f"/templates/{created['id']}")
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"template {created['id']} does not exist"


def test_list_filters_and_pages(api: TestClient) -> None:
    for name, kind in [("Welcome", "marketing"), ("Receipt", "transactional"), ("Welcome back", "marketing")]:
        _template(api, name=name, kind=kind, subject="Hi {{ contact.first_name }}")
    first = api.get("/templates", params={"limit": 2}).json()
    assert [t["name"] for t in first["data"]] == ["Welcome", "Receipt"]
    second = api.get("/templates", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [t["name"] for t in second["data"]] == ["Welcome back"]
    assert second["next_cursor"] is None
    assert [t["name"] for t in api.get("/templates", params={"q": "WELCOME"}).json()["data"]] == [
        "Welcome",
        "Welcome back",
    ]
    assert [t["name"] for t in api.get("/templates", params={"kind": "transactional"}).json()["data"]] == [
        "Receipt"
    ]


def test_duplicate_name_ignoring_case_is_409(api: TestClient) -> None:
    _template(api, name="Welcome")
    other = _template(api, name="Receipt")
    detail = _problem(
        api.post(
            "/templates", json={"name": "WELCOME", "kind": "marketing", "subject": "s", "html_body": "b"}
        ),
        409,
        "name",
    )
    assert detail == "a template named 'Welcome' already exists"
    _problem(api.patch(f"/templates/{other['id']}", json={"name": "welcome"}), 409, "name")
    # Another casing of its own name is a rename, not a clash.
    assert api.patch(f"/templates/{other['id']}", json={"name": "RECEIPT"}).json()["name"] == "RECEIPT"


def test_syntax_error_is_422_naming_field_and_line(api: TestClient) -> None:
    response = api.post(
        "/templates",
        json={
            "name": "Broken",
            "kind": "marketing",
            "subject": "Hi",
            "html_body": "<p>\nHello\n{{ contact.first_name }\n</p>",
        },
    )
    assert _problem(response, 422, "html_body") == "html_body: line 3: unexpected '}'"
    subject = api.post(
        "/templates", json={"name": "B", "kind": "marketing", "subject": "{% if %}", "html_body": "x"}
    )
    assert _problem(subject, 422, "subject").startswith("subject: line 1: ")
    existing = _template(api)
    patched = api.patch(f"/templates/{existing['id']}", json={"text_body": "ok\n{% for %}"})
    assert _problem(patched, 422, "text_body").startswith("text_body: line 2: ")
    assert api.get(f"/templates/{existing['id']}").json() == existing
    assert [t["name"] for t in api.get("/templates").json()["data"]] == ["Welcome"]


def test_unknown_layout_and_partial_are_422(api: TestClient) -> None:
    layout = api.post(
        "/templates",
        json={"name": "W", "kind": "marketing", "subject": "s", "html_body": "x", "layout_id": 999},
    )
    assert _problem(layout, 422, "layout_id") == "layout_id: partial 999 does not exist"
    no_block = _partial(api, "plain", "<html></html>")
    refused = api.post(
        "/templates",
        json={
            "name": "W",
            "kind": "marketing",
            "subject": "s",
            "html_body": "x",
            "layout_id": no_block["id"],
        },
    )
    assert "has no {% block content %}" in _problem(refused, 422, "layout_id")
    include = api.post(
        "/templates",
        json={"name": "W", "kind": "marketing", "subject": "s", "html_body": "x\n{% include 'footer' %}"},
    )
    assert _problem(include, 422, "html_body") == "html_body: line 2: unknown partial 'footer'"


def test_invalid_input(api: TestClient) -> None:
    base = {"name": "W", "kind": "marketing", "subject": "s", "html_body": "x"}
    for change, field in [
        ({"kind": "newsletter"}, "kind"),
        ({"subject": "x" * 999}, "subject"),
        ({"subject": ""}, "subject"),
        ({"name": " "}, "name"),
        ({"html_body": "a\x00b"}, "html_body"),
        ({"colour": "red"}, "colour"),
    ]:
        response = api.post("/templates", json={**base, **change})
        assert response.status_code == 422, change
        assert response.json()["errors"][0]["field"] == field, change
    created = _template(api)
    assert (
        api.patch(f"/templates/{created['id']}", json={"subject": None}).json()["errors"][0]["field"]
        == "subject"
    )
    assert api.patch("/templates/999", json={"subject": "x"}).status_code == 404
    assert api.delete("/templates/999").status_code == 404
    assert api.post("/templates/999/preview", json={}).status_code == 404


def test_preview_for_a_contact_with_a_model(api: TestClient) -> None:
    contact = api.post(
        "/contacts",
        json={"email": "ada@example.com", "first_name": "<Ada>", "custom_fields": {"plan": "pro"}},
    ).json()
    _partial(api, "footer", '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>')
    layout = _partial(
        api, "base", "<html><body>{% block content %}{% endblock %}{% include 'footer' %}</body></html>"
    )
    template = _template(
        api,
        subject="{{ contact.first_name }}, your {{ contact.plan }} order #{{ model.order }}",
        html_body="<h1>Thanks {{ contact.first_name }}</h1>",
        layout_id=layout["id"],
    )
    response = api.post(
        f"/templates/{template['id']}/preview", json={"contact_id": contact["id"], "model": {"order": 42}}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "subject": "<Ada>, your pro order #42",
        "html": (
            '<html><body><h1>Thanks &lt;Ada&gt;</h1><p><a href="http://localhost:8000/u/preview">Unsubscribe</a>'
            "</p></body></html>"
        ),
        "text": "Thanks <Ada>\n\nUnsubscribe (http://localhost:8000/u/preview)",
        "undefined": [],
    }


def test_preview_reports_undefined_variables(api: TestClient) -> None:
    template = _template(
        api,
        kind="transactional",
        subject="Hi {{ contact.first_name }} {{ contact.nickname }}",
        html_body="<p>{{ contact.nickname }} {{ model.order.total }} {{ unsubscribe_url }}</p>",
    )
    # No contact: an example one.
    response = api.post(f"/templates/{template['id']}/preview", json={"model": {}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["subject"] == "Hi Jane"
    assert body["html"] == "<p>  </p>"
    assert body["undefined"] == ["contact.nickname", "model.order", "unsubscribe_url"]


def test_preview_errors(api: TestClient) -> None:
    template = _template(api, html_body="<p>\n{{ ''.__class__.__mro__ }}</p>")
    unknown = api.post(f"/templates/{template['id']}/preview", json={"contact_id": 999})
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "contact 999 does not exist"
    unsafe = api.post(f"/templates/{template['id']}/preview", json={})
    assert "unsafe" in _problem(unsafe, 422, "html_body")
    assert _problem(unsafe, 422, "html_body").startswith("html_body: line 2: ")
    bad = api.post(f"/templates/{template['id']}/preview", json={"contact_id": 0, "model": []})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"contact_id", "model"}


def test_preview_refuses_templates_over_the_limits(api: TestClient) -> None:
    # Saving never evaluates the template, so even this saves at once.
    huge = _template(api, html_body="<p>\n{{ 'x' * 10**10 }}</p>")
    assert _problem(api.post(f"/templates/{huge['id']}/preview", json={}), 422, "html_body") == (
        "html_body: line 2: result too large"
    )
    long = _template(api, name="Long", text_body="{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}")
    response = api.post(f"/templates/{long['id']}/preview", json={})
    assert _problem(response, 422, "text_body") == ("text_body: line 1: rendered output over 2 MiB")
    ranged = _template(api, name="Ranged", subject="{{ range(100000)|length }}")
    assert _problem(api.post(f"/templates/{ranged['id']}/preview", json={}), 422, "subject") == (
        "subject: line 1: range over 10,000 items"
    )


def test_preview_stops_a_slow_template(api: TestClient) -> None:
    _partial(
        api, "slow", "<p>\n{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    )
    template = _template(api, html_body="<p>Hi</p>{% include 'slow' %}")
    response = api.post(f"/templates/{template['id']}/preview", json={})
    assert _problem(response, 422, "partial:slow") == ("partial:slow: line 2: rendering took over 2 s")
