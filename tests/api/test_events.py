"""POST /events and GET /events: recording custom events once, validation, listing, and what happens
when Temporal cannot be reached (the default test settings point it nowhere)."""

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nurture.db.models import (
    ActivityEvent,
    Automation,
    AutomationRun,
    AutomationStatus,
    AutomationVersion,
    Contact,
    ContactEvent,
    RunStatus,
)
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings


def _contact(api: TestClient, email: str = "ada@example.com") -> int:
    response = api.post("/contacts", json={"email": email, "first_name": "Ada"})
    assert response.status_code == 201, response.text
    contact_id: int = response.json()["id"]
    return contact_id


def _count(settings: Settings) -> int:
    with session_factory(settings.resolved_database_url)() as session:
        return session.scalar(select(func.count()).select_from(ContactEvent)) or 0


def _errors(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors: list[dict[str, str]] = response.json()["errors"]
    return errors


def test_an_event_is_recorded_with_its_activity(api: TestClient, settings: Settings) -> None:
    contact_id = _contact(api)
    at = datetime(2025, 1, 2, 10, 30, tzinfo=UTC)
    response = api.post(
        "/events",
        json={
            "contact_id": contact_id,
            "name": "cart_abandoned",
            "properties": {"cart_id": "c-1", "total": 42.5},
            "occurred_at": "2025-01-02T11:30:00+01:00",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    event = body["event"]
    assert (event["contact_id"], event["name"], event["properties"]) == (
        contact_id,
        "cart_abandoned",
        {"cart_id": "c-1", "total": 42.5},
    )
    assert datetime.fromisoformat(event["occurred_at"]) == at
    # Nothing waits on it and nothing is triggered by it: Temporal is not even asked.
    assert body["repeated"] is False
    assert (body["signalled"], body["unsignalled"], body["started"], body["refused"]) == ([], [], [], [])
    assert body["temporal_error"] is None

    activity = api.get(f"/contacts/{contact_id}/activity", params={"type": "event.cart_abandoned"}).json()
    [entry] = activity["data"]
    assert entry["data"] == {"event_id": event["id"], "properties": {"cart_id": "c-1", "total": 42.5}}
    assert datetime.fromisoformat(entry["occurred_at"]) == at
    assert api.get(f"/events/{event['id']}").json() == event


def test_the_contact_can_be_named_by_email_and_the_time_defaults_to_now(api: TestClient) -> None:
    contact_id = _contact(api)
    before = datetime.now(UTC)
    response = api.post("/events", json={"email": "ADA@example.com", "name": "purchase"})
    assert response.status_code == 201, response.text
    event = response.json()["event"]
    assert event["contact_id"] == contact_id and event["properties"] == {}
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(event["occurred_at"]) <= datetime.now(UTC)


def test_the_contact_must_be_named_once_and_exist(api: TestClient, settings: Settings) -> None:
    contact_id = _contact(api)
    neither = _errors(api.post("/events", json={"name": "purchase"}))
    assert neither == [
        {"field": "contact", "message": "contact: name the contact by contact_id or by email (one of them)"}
    ]
    both = api.post("/events", json={"contact_id": contact_id, "email": "ada@example.com", "name": "x"})
    assert [e["field"] for e in _errors(both)] == ["contact"]
    unknown = _errors(api.post("/events", json={"contact_id": contact_id + 100, "name": "purchase"}))
    assert unknown == [
        {"field": "contact_id", "message": f"contact_id: contact {contact_id + 100} does not exist"}
    ]
    nobody = _errors(api.post("/events", json={"email": "nobody@example.com", "name": "purchase"}))
    assert nobody == [{"field": "email", "message": "email: no contact has the email nobody@example.com"}]
    assert _count(settings) == 0


def test_bad_names_times_and_properties_are_refused_naming_the_field(
    api: TestClient, settings: Settings
) -> None:
    contact_id = _contact(api)

    def post(**fields: object) -> list[str]:
        body = {"contact_id": contact_id, "name": "purchase", **fields}
        return [e["field"] for e in _errors(api.post("/events", json=body))]

    assert post(name="  ") == ["name"]
    # `event.` plus the name is the activity's type, which holds 64 characters.
    assert post(name="x" * 59) == ["name"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert post(occurred_at=tomorrow) == ["occurred_at"]
    assert post(occurred_at="2025-01-02T10:00:00") == ["occurred_at"]
    assert post(properties=["not", "an", "object"]) == ["properties"]
    assert post(properties={f"p{i}": i for i in range(101)}) == ["properties"]
    assert post(idempotency_key="") == ["idempotency_key"]
    assert post(colour="red") == ["colour"]
    assert _count(settings) == 0
    ok = api.post("/events", json={"contact_id": contact_id, "name": "x" * 58})
    assert ok.status_code == 201, ok.text


def test_an_idempotency_key_records_the_event_once(api: TestClient, settings: Settings) -> None:
    contact_id = _contact(api)
    body = {
        "contact_id": contact_id,
        "name": "purchase",
        "properties": {"order": 7},
        "idempotency_key": "o-7",
    }
    first = api.post("/events", json=body)
    assert first.status_code == 201, first.text
    again = api.post("/events", json={**body, "properties": {"order": 8}})
    assert again.status_code == 200, again.text
    assert again.json()["event"] == first.json()["event"]
    assert again.json()["repeated"] is True
    assert _count(settings) == 1
    activity = api.get(f"/contacts/{contact_id}/activity", params={"type": "event.purchase"}).json()
    assert len(activity["data"]) == 1

    # The key names one event: reusing it for another event is a mistake, not a retry.
    clash = api.post("/events", json={**body, "name": "refund"})
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "idempotency_key"
    assert _count(settings) == 1


def test_with_temporal_unreachable_the_event_is_kept_and_the_answer_says_what_was_not_done(
    api: TestClient, settings: Settings
) -> None:
    contact_id = _contact(api)
    with transaction(session_factory(settings.resolved_database_url)) as session:
        automation = Automation(name="Carts", status=AutomationStatus.ACTIVE)
        session.add(automation)
        session.flush()
        version = AutomationVersion(
            automation_id=automation.id,
            number=1,
            definition={
                "triggers": [{"type": "event", "name": "cart_abandoned"}],
                "steps": [{"id": "wait", "type": "wait", "duration": "1h"}],
            },
        )
        session.add(version)
        session.flush()
        # A run of another automation, waiting: the event must reach it.
        session.add(
            AutomationRun(
                automation_id=automation.id,
                version_id=version.id,
                contact_id=contact_id,
                workflow_id=f"automation:0:contact:{contact_id}",
                status=RunStatus.RUNNING,
            )
        )
        automation_id = automation.id
    response = api.post("/events", json={"contact_id": contact_id, "name": "cart_abandoned"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["temporal_error"].startswith("Temporal could not be reached")
    assert body["signalled"] == [] and body["unsignalled"] == [f"automation:0:contact:{contact_id}"]
    assert body["started"] == []
    assert body["refused"] == [
        {"automation_id": automation_id, "reason": "not started: Temporal could not be reached"}
    ]
    assert _count(settings) == 1
    with session_factory(settings.resolved_database_url)() as session:
        assert session.scalar(select(func.count()).select_from(AutomationRun)) == 1
        types = session.scalars(select(ActivityEvent.type).where(ActivityEvent.contact_id == contact_id))
        assert "event.cart_abandoned" in list(types)

    # A contact change with a run to tell and Temporal down is committed and answered all the same.
    tagged = api.post(f"/contacts/{contact_id}/tags", json={"tags": ["customer"]})
    assert tagged.status_code == 200 and tagged.json()["tags"] == ["customer"]


def test_events_are_listed_newest_first_by_contact_and_name(api: TestClient, settings: Settings) -> None:
    ada = _contact(api)
    bob = _contact(api, "bob@example.com")
    ids = []
    for contact_id, name in [(ada, "viewed"), (bob, "viewed"), (ada, "purchase"), (ada, "viewed")]:
        response = api.post("/events", json={"contact_id": contact_id, "name": name})
        ids.append(response.json()["event"]["id"])

    everything = api.get("/events").json()
    assert [e["id"] for e in everything["data"]] == ids[::-1]
    ada_viewed = api.get("/events", params={"contact_id": ada, "name": "viewed"}).json()
    assert [e["id"] for e in ada_viewed["data"]] == [ids[3], ids[0]]

    first = api.get("/events", params={"contact_id": ada, "limit": 2}).json()
    assert [e["id"] for e in first["data"]] == [ids[3], ids[2]]
    rest = api.get("/events", params={"contact_id": ada, "limit": 2, "cursor": first["next_cursor"]}).json()
    assert [e["id"] for e in rest["data"]] == [ids[0]] and rest["next_cursor"] is None
    # A cursor belongs to its filters.
    other = api.get("/events", params={"contact_id": bob, "cursor": first["next_cursor"]})
    assert other.status_code == 400

    assert api.get("/events", params={"contact_id": 0}).status_code == 422
    missing = api.get("/events/999999")
    assert missing.status_code == 404 and missing.json()["detail"] == "event 999999 does not exist"


def test_events_need_an_api_key(anonymous: TestClient, settings: Settings) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        contact = Contact(email="ada@example.com")
        session.add(contact)
        session.flush()
        contact_id = contact.id
    response = anonymous.post("/events", json={"contact_id": contact_id, "name": "purchase"})
    assert response.status_code == 401
    assert anonymous.get("/events").status_code == 401
    assert _count(settings) == 0
