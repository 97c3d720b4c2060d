"""Automations through the API: definitions checked on save, immutable numbered versions, status
changes, deletion rules, runs and the per-step report."""

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nurture.db.models import AutomationRun, AutomationVersion, RunStatus
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings
from tests.nurture.automations.examples import cart_abandonment, nurture


def _created(response: Any) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def refs(api: TestClient) -> dict[str, int]:
    """The templates, list and user the example automations name."""
    ids = {}
    for name, kind in [
        ("welcome", "marketing"),
        ("reminder", "marketing"),
        ("tips", "marketing"),
        ("last_call", "marketing"),
        ("cart", "transactional"),
    ]:
        body = {"name": name, "kind": kind, "subject": f"{name} subject", "html_body": f"<p>{name}</p>"}
        ids[name] = _created(api.post("/templates", json=body))["id"]
    ids["newsletter"] = _created(api.post("/lists", json={"name": "Newsletter"}))["id"]
    ids["owner"] = _created(api.post("/users", json={"email": "owner@example.com", "name": "Olive"}))["id"]
    return ids


def _nurture(refs: dict[str, int]) -> dict[str, Any]:
    return nurture(
        welcome=refs["welcome"],
        reminder=refs["reminder"],
        tips=refs["tips"],
        last_call=refs["last_call"],
        newsletter=refs["newsletter"],
    )


def _create(api: TestClient, name: str, definition: dict[str, Any], **extra: Any) -> dict:
    return _created(api.post("/automations", json={"name": name, "definition": definition, **extra}))


def _refused(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [(e["field"], e["message"]) for e in response.json()["errors"]]


def test_create_read_list_and_rename(api: TestClient, refs: dict[str, int]) -> None:
    created = _create(api, " Welcome series ", _nurture(refs))
    assert (created["name"], created["status"], created["version"]) == ("Welcome series", "draft", 1)
    steps = created["definition"]["steps"]
    assert [s["id"] for s in steps][:3] == ["welcome", "wait-2d", "opened-welcome"]
    # Defaults are written out, so a later change of default cannot change a saved version.
    assert created["definition"]["entry"] == {"mode": "once", "property": None}
    assert steps[2]["else"] == "reminder" and steps[1]["duration"] == "2d"
    assert api.get(f"/automations/{created['id']}").json() == created

    cart = _create(api, "Cart abandonment", cart_abandonment(reminder=refs["cart"]), status="active")
    assert cart["status"] == "active"
    listed = api.get("/automations").json()
    assert [a["name"] for a in listed["data"]] == ["Welcome series", "Cart abandonment"]
    assert [a["id"] for a in api.get("/automations", params={"status": "active"}).json()["data"]] == [
        cart["id"]
    ]
    assert [a["id"] for a in api.get("/automations", params={"q": "WELCOME"}).json()["data"]] == [
        created["id"]
    ]
    first = api.get("/automations", params={"limit": 1}).json()
    second = api.get("/automations", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [a["id"] for a in second["data"]] == [cart["id"]] and second["next_cursor"] is None

    renamed = api.patch(f"/automations/{created['id']}", json={"name": "Onboarding"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Onboarding"
    assert renamed.json()["version"] == 1
    clash = api.patch(f"/automations/{created['id']}", json={"name": "cart ABANDONMENT"})
    assert clash.status_code == 409 and clash.json()["errors"][0]["field"] == "name"
    duplicate = api.post("/automations", json={"name": "onboarding", "definition": _nurture(refs)})
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"] == "an automation named 'Onboarding' already exists"
    assert _refused(api.patch(f"/automations/{created['id']}", json={"name": None}))[0][0] == "name"
    assert api.get("/automations/999").status_code == 404


def test_versions_are_numbered_and_never_change(api: TestClient, refs: dict[str, int]) -> None:
    automation = _create(api, "Welcome series", _nurture(refs))
    changed = _nurture(refs)
    changed["steps"][1]["duration"] = "3d"
    version = _created(api.post(f"/automations/{automation['id']}/versions", json={"definition": changed}))
    assert version["number"] == 2 and version["definition"]["steps"][1]["duration"] == "3d"
    third = _created(api.post(f"/automations/{automation['id']}/versions", json={"definition": changed}))
    assert third["number"] == 3

    versions = api.get(f"/automations/{automation['id']}/versions").json()["data"]
    assert [v["number"] for v in versions] == [1, 2, 3]
    first = api.get(f"/automations/{automation['id']}/versions/1").json()
    assert first["definition"] == automation["definition"]
    assert first["definition"]["steps"][1]["duration"] == "2d"
    latest = api.get(f"/automations/{automation['id']}").json()
    assert latest["version"] == 3 and latest["definition"]["steps"][1]["duration"] == "3d"
    assert api.get(f"/automations/{automation['id']}/versions/4").status_code == 404
    # There is no way to edit or delete a version.
    assert (
        api.patch(f"/automations/{automation['id']}/versions/1", json={"definition": changed}).status_code
        == 405
    )
    assert api.delete(f"/automations/{automation['id']}/versions/1").status_code == 405


def test_status_transitions_and_their_conflicts(api: TestClient, refs: dict[str, int]) -> None:
    automation = _create(api, "Welcome series", _nurture(refs))
    url = f"/automations/{automation['id']}"

    def step(action: str, status: int, expected: str) -> None:
        response = api.post(f"{url}/{action}")
        assert response.status_code == status, response.text
        if status == 200:
            assert response.json()["status"] == expected
        else:
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["detail"].startswith(f"automation {automation['id']} is {expected}"), (
                response.json()
            )

    step("pause", 409, "draft")
    step("resume", 409, "draft")
    step("activate", 200, "active")
    step("activate", 409, "active")
    step("resume", 409, "active")
    step("pause", 200, "paused")
    step("pause", 409, "paused")
    step("activate", 409, "paused")
    step("resume", 200, "active")
    step("archive", 200, "archived")
    step("archive", 200, "archived")
    step("activate", 409, "archived")
    step("resume", 409, "archived")
    refused = api.post(f"{url}/versions", json={"definition": _nurture(refs)})
    assert refused.status_code == 409
    assert refused.json()["detail"] == f"automation {automation['id']} is archived; it takes no new versions"
    assert [v["number"] for v in api.get(f"{url}/versions").json()["data"]] == [1]
    assert (
        _refused(
            api.post("/automations", json={"name": "x", "definition": _nurture(refs), "status": "paused"})
        )[0][0]
        == "status"
    )


def _count_versions(settings: Settings) -> int:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        return session.scalar(select(func.count()).select_from(AutomationVersion)) or 0


def test_refused_definitions_name_each_path_and_write_nothing(
    api: TestClient, refs: dict[str, int], settings: Settings
) -> None:
    bad = _nurture(refs)
    bad["steps"][0]["template_id"] = 9999
    bad["steps"][3]["next"] = "remindr"
    bad["steps"][6] = {"id": "hot-lead", "type": "goto", "step": "hot-lead"}
    bad["triggers"][0]["list_id"] = 8888
    assert _refused(api.post("/automations", json={"name": "Welcome series", "definition": bad})) == [
        ("definition.steps[3].next", "steps[3] (reminder): next: unknown step 'remindr'"),
        (
            "definition.steps[6].step",
            "steps[6] (hot-lead): goes back to 'hot-lead' in a loop with no wait inside; add a wait step",
        ),
        ("definition.triggers[0].list_id", "triggers[0]: list_id: list 8888 does not exist"),
        ("definition.steps[0].template_id", "steps[0] (welcome): template_id: template 9999 does not exist"),
    ]

    # pydantic's own findings come out the same way: the path as written, the step named.
    shape = _nurture(refs)
    shape["steps"][1]["duration"] = "2 days"
    shape["steps"][2]["condition"]["did"] = "read"
    shape["steps"][0]["subject"] = "Hi"
    response = api.post("/automations", json={"name": "Welcome series", "definition": shape})
    assert _refused(response) == [
        ("definition.steps[0].subject", "steps[0] (welcome): subject: unknown key"),
        (
            "definition.steps[1].duration",
            "steps[1] (wait-2d): duration: '2 days' is not a duration such as "
            "'2d', '12h', '1w 2d' or 'P2DT12H'",
        ),
        (
            "definition.steps[2].condition.did",
            "steps[2] (opened-welcome): condition.did: "
            "Input should be 'delivered', 'opened', 'clicked' or 'replied'",
        ),
    ]
    assert response.json()["detail"].startswith("definition.steps[0].subject: steps[0] (welcome): subject:")
    assert _refused(api.post("/automations", json={"name": "x", "definition": []})) == [
        ("definition", "Input should be a valid dictionary")
    ]
    assert api.get("/automations").json()["data"] == []
    assert _count_versions(settings) == 0

    automation = _create(api, "Welcome series", _nurture(refs))
    response = api.post(f"/automations/{automation['id']}/versions", json={"definition": bad})
    assert [field for field, _ in _refused(response)][0] == "definition.steps[3].next"
    assert _count_versions(settings) == 1


def test_references_lists_users_automations_and_kinds(api: TestClient, refs: dict[str, int]) -> None:
    cart = _create(api, "Cart abandonment", cart_abandonment(reminder=refs["cart"]))
    follow_up = {
        "triggers": [
            {"type": "tag_added", "tag": "trial"},
            {"type": "one_to_one_replied", "user_id": 6665},
        ],
        "exits": [{"type": "left_list", "list_id": 7777}],
        "steps": [
            {
                "id": "receipt",
                "type": "send_email",
                "template_id": refs["cart"],
                "list_id": refs["newsletter"],
            },
            {"id": "tell-owner", "type": "notify", "template_id": refs["welcome"], "user_id": 6666},
            {"id": "join", "type": "list", "action": "subscribe", "list_id": 5555},
            {"id": "carts", "type": "start_automation", "automation_id": cart["id"]},
            {"id": "ghost", "type": "start_automation", "automation_id": 4444},
            {
                "id": "on-list",
                "type": "if",
                "condition": {"type": "not", "condition": {"type": "list", "list_id": 3333}},
                "then": "done",
                "else": "done",
            },
            {"id": "done", "type": "end"},
        ],
    }
    assert _refused(api.post("/automations", json={"name": "Trial", "definition": follow_up})) == [
        ("definition.triggers[1].user_id", "triggers[1]: user_id: user 6665 does not exist"),
        ("definition.exits[0].list_id", "exits[0]: list_id: list 7777 does not exist"),
        ("definition.steps[1].user_id", "steps[1] (tell-owner): user_id: user 6666 does not exist"),
        ("definition.steps[2].list_id", "steps[2] (join): list_id: list 5555 does not exist"),
        (
            "definition.steps[4].automation_id",
            "steps[4] (ghost): automation_id: automation 4444 does not exist",
        ),
        (
            "definition.steps[5].condition.condition.list_id",
            "steps[5] (on-list): condition.condition.list_id: list 3333 does not exist",
        ),
        (
            "definition.steps[0].list_id",
            "steps[0] (receipt): list_id: "
            "only marketing email is sent for a list; this email is transactional",
        ),
    ]
    # The same template sent as marketing may name a list; an automation may not start itself.
    itself = cart_abandonment(reminder=refs["cart"])
    itself["steps"][4] = {"id": "give-up", "type": "start_automation", "automation_id": cart["id"]}
    response = api.post(f"/automations/{cart['id']}/versions", json={"definition": itself})
    assert _refused(response) == [
        (
            "definition.steps[4].automation_id",
            "steps[4] (give-up): automation_id: an automation cannot start itself",
        )
    ]
    marketing: dict[str, Any] = copy.deepcopy(follow_up)
    marketing["exits"] = []
    marketing["steps"][0]["kind"] = "marketing"
    marketing["triggers"][1]["user_id"] = refs["owner"]
    marketing["steps"][1]["user_id"] = refs["owner"]
    marketing["steps"][2]["list_id"] = refs["newsletter"]
    del marketing["steps"][4]
    marketing["steps"][4]["condition"]["condition"]["list_id"] = refs["newsletter"]
    assert _create(api, "Trial", marketing)["version"] == 1


def _contact(api: TestClient, email: str) -> int:
    return int(_created(api.post("/contacts", json={"email": email}))["id"])


def _runs(settings: Settings, automation_id: int, rows: list[dict[str, Any]]) -> list[int]:
    """Insert runs as the workflow would record them."""
    with transaction(session_factory(settings.resolved_database_url)) as session:
        versions = dict(
            session.execute(
                select(AutomationVersion.number, AutomationVersion.id).where(
                    AutomationVersion.automation_id == automation_id
                )
            ).all()
        )
        runs = []
        start = datetime(2030, 1, 1, tzinfo=UTC)
        for n, row in enumerate(rows):
            run = AutomationRun(
                automation_id=automation_id,
                version_id=versions[row.pop("version", 1)],
                workflow_id=f"automation:{automation_id}:contact:{row['contact_id']}",
                started_at=start + timedelta(hours=n),
                **row,
            )
            session.add(run)
            session.flush()
            runs.append(run.id)
        return runs


def test_runs_and_report(api: TestClient, refs: dict[str, int], settings: Settings) -> None:
    automation = _create(api, "Welcome series", _nurture(refs))
    changed = _nurture(refs)
    del changed["steps"][6]  # hot-lead goes; its runs still count
    changed["steps"][5]["next"] = "wait-9d"
    api.post(f"/automations/{automation['id']}/versions", json={"definition": changed})
    contacts = [_contact(api, f"c{n}@example.com") for n in range(7)]
    ended = datetime(2030, 2, 1, tzinfo=UTC)
    ids = _runs(
        settings,
        automation["id"],
        [
            {"contact_id": contacts[0], "current_step": "wait-2d"},
            {"contact_id": contacts[1], "current_step": "wait-2d"},
            {"contact_id": contacts[2], "current_step": "hot-lead", "version": 1},
            {"contact_id": contacts[3], "current_step": "wait-pricing", "version": 2},
            {
                "contact_id": contacts[4],
                "current_step": "purchased",
                "status": RunStatus.COMPLETED,
                "outcome": "goal:purchased",
                "ended_at": ended,
            },
            {
                "contact_id": contacts[5],
                "current_step": "done",
                "status": RunStatus.COMPLETED,
                "ended_at": ended,
            },
            {
                "contact_id": contacts[6],
                "current_step": "wait-9d",
                "status": RunStatus.EXITED,
                "outcome": "exit: unsubscribed",
                "ended_at": ended,
            },
        ],
    )
    url = f"/automations/{automation['id']}"
    page = api.get(f"{url}/runs").json()
    assert [r["id"] for r in page["data"]] == ids[::-1]
    newest = page["data"][0]
    assert newest["contact_id"] == contacts[6] and newest["version"] == 1 and newest["status"] == "exited"
    assert newest["outcome"] == "exit: unsubscribed" and newest["ended_at"].startswith("2030-02-01")
    workflow_id = f"automation:{automation['id']}:contact:{contacts[6]}"
    assert newest["workflow_id"] == workflow_id
    assert newest["ui_url"] == (
        f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows/"
        f"automation%3A{automation['id']}%3Acontact%3A{contacts[6]}"
    )
    running = api.get(f"{url}/runs", params={"status": "running"}).json()["data"]
    assert [r["contact_id"] for r in running] == contacts[3::-1]
    assert [r["version"] for r in running] == [2, 1, 1, 1]
    at_step = api.get(f"{url}/runs", params={"status": "running", "step": "wait-2d"}).json()["data"]
    assert [r["contact_id"] for r in at_step] == [contacts[1], contacts[0]]
    first = api.get(f"{url}/runs", params={"limit": 4}).json()
    rest = api.get(f"{url}/runs", params={"limit": 4, "cursor": first["next_cursor"]}).json()
    assert [r["id"] for r in first["data"] + rest["data"]] == ids[::-1] and rest["next_cursor"] is None
    assert _refused(api.get(f"{url}/runs", params={"status": "sleeping"}))[0][0] == "status"

    report = api.get(f"{url}/report").json()
    assert report["runs"] == {"entered": 7, "running": 4, "completed": 2, "exited": 1, "failed": 0}
    by_id = {s["id"]: s for s in report["steps"]}
    assert [s["id"] for s in report["steps"]][-1] == "hot-lead"  # only version 1 has it
    assert by_id["hot-lead"] == {
        "id": "hot-lead",
        "type": None,
        "name": None,
        "entered": 0,
        "waiting_now": 1,
        "completed": 0,
        "ended_here": 0,
    }
    assert by_id["wait-2d"] == {
        "id": "wait-2d",
        "type": "wait",
        "name": None,
        "entered": 0,
        "waiting_now": 2,
        "completed": 0,
        "ended_here": 0,
    }
    assert (by_id["wait-pricing"]["waiting_now"], by_id["wait-9d"]["ended_here"]) == (1, 1)
    assert by_id["purchased"]["name"] == "Bought a plan" and by_id["purchased"]["ended_here"] == 1
    assert by_id["welcome"]["waiting_now"] == 0
    assert report["goals"] == [{"id": "purchased", "reached": 1, "conversion": round(1 / 7, 4)}]
    assert api.get("/automations/999/runs").status_code == 404


def test_delete_only_drafts_and_archived_without_running_runs(
    api: TestClient, refs: dict[str, int], settings: Settings
) -> None:
    draft = _create(api, "Draft", _nurture(refs))
    assert api.delete(f"/automations/{draft['id']}").status_code == 204
    assert api.get(f"/automations/{draft['id']}").status_code == 404

    live = _create(api, "Live", _nurture(refs), status="active")
    refused = api.delete(f"/automations/{live['id']}")
    assert refused.status_code == 409
    assert refused.json()["detail"] == f"automation {live['id']} is active; archive it before deleting it"
    api.post(f"/automations/{live['id']}/pause")
    assert (
        api.delete(f"/automations/{live['id']}")
        .json()["detail"]
        .startswith(f"automation {live['id']} is paused")
    )

    api.post(f"/automations/{live['id']}/archive")
    contact = _contact(api, "still@example.com")
    [run_id] = _runs(settings, live["id"], [{"contact_id": contact, "current_step": "wait-2d"}])
    still = api.delete(f"/automations/{live['id']}")
    assert still.status_code == 409
    assert still.json()["detail"] == f"automation {live['id']} still has 1 running run(s)"
    with transaction(session_factory(settings.resolved_database_url)) as session:
        run = session.get(AutomationRun, run_id)
        assert run is not None
        run.status = RunStatus.EXITED
    assert api.delete(f"/automations/{live['id']}").status_code == 204
    assert api.get(f"/automations/{live['id']}").status_code == 404
    with transaction(session_factory(settings.resolved_database_url)) as session:
        assert session.get(AutomationRun, run_id) is None
    assert api.delete("/automations/999").status_code == 404


def test_set_field_refuses_the_fields_the_contacts_api_keeps(api: TestClient) -> None:
    definition = {
        "triggers": [{"type": "manual"}],
        "steps": [{"id": "paris", "type": "set_field", "field": "timezone", "value": "Europe/Paris"}],
    }
    response = api.post("/automations", json={"name": "Time zone", "definition": definition})
    [(field, message)] = _refused(response)
    assert field == "definition.steps[0].field"
    assert "'timezone' is kept by the contacts API" in message
    assert api.get("/automations").json()["data"] == []


def test_a_1to1_email_from_the_owner_is_for_no_list(api: TestClient) -> None:
    template = api.post(
        "/templates", json={"name": "Ask", "kind": "marketing", "subject": "Hi", "html_body": "<p>Hi</p>"}
    ).json()
    newsletter = api.post("/lists", json={"name": "Newsletter"}).json()
    step = {"id": "ask", "type": "send_email", "template_id": template["id"], "from_owner": "contact"}
    for bad in ({"list_id": newsletter["id"]}, {"kind": "marketing"}):
        definition = {"triggers": [], "steps": [step | bad]}
        assert _refused(api.post("/automations", json={"name": "Ask", "definition": definition})) == [
            (
                "definition.steps[0].from_owner",
                "steps[0] (ask): from_owner: "
                "a 1:1 email from the owner is personal: no list, no marketing kind",
            )
        ]
    definition = {"triggers": [], "steps": [step]}
    assert api.post("/automations", json={"name": "Ask", "definition": definition}).status_code == 201
