"""The suppression list through the API: add, read, list with filters, remove, bad input named."""

import pytest
from fastapi.testclient import TestClient

from nurture.crud.contacts import get_contact
from nurture.crud.suppressions import suppress_address
from nurture.crud.unsubscribe import unsubscribe
from nurture.db.models import SuppressionReason
from nurture.db.session import session_factory, transaction
from nurture.email.eligibility import ineligible_reason
from nurture.schemas.email import TemplateKind
from nurture.settings import Settings


def _suppress(api: TestClient, email: str, **fields: object) -> dict:
    response = api.post("/suppressions", json={"email": email, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_read_delete(api: TestClient) -> None:
    created = _suppress(api, "  Ann@Example.COM ", details="asked by phone")
    assert (created["email"], created["reason"], created["source"]) == ("ann@example.com", "manual", "api")
    assert (created["details"], created["message_id"]) == ("asked by phone", None)
    # Any casing of the address finds it.
    assert api.get("/suppressions/ANN@example.com").json() == created

    assert api.delete("/suppressions/Ann@Example.com").status_code == 204
    missing = api.get("/suppressions/ann@example.com")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "suppression ann@example.com does not exist"
    again = api.delete("/suppressions/ann@example.com")
    assert again.status_code == 404 and "ann@example.com" in again.json()["detail"]


def test_duplicate_is_409_naming_the_email(api: TestClient) -> None:
    _suppress(api, "bob@example.com", reason="hard_bounce")
    response = api.post("/suppressions", json={"email": "BOB@example.com"})
    assert response.status_code == 409
    body = response.json()
    assert body["errors"][0]["field"] == "email"
    assert body["detail"] == "bob@example.com is already suppressed (hard_bounce)"
    # The first entry is kept as it was.
    assert api.get("/suppressions/bob@example.com").json()["reason"] == "hard_bounce"


def test_bad_input_names_the_field(api: TestClient) -> None:
    for body, field in [
        ({}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@example.com", "reason": "unsubscribed"}, "reason"),
        ({"email": "a@example.com", "details": "x" * 2001}, "details"),
        ({"email": "a@example.com", "source": "me"}, "source"),
    ]:
        response = api.post("/suppressions", json=body)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == field, body
    response = api.get("/suppressions/not-an-email")
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "email"
    assert api.get("/suppressions", params={"reason": "bogus"}).json()["errors"][0]["field"] == "reason"
    assert api.get("/suppressions").json() == {"data": [], "next_cursor": None}


def test_list_filters_and_pages_newest_first(api: TestClient) -> None:
    _suppress(api, "one@example.com", reason="hard_bounce")
    _suppress(api, "two@example.org", reason="spam_complaint")
    _suppress(api, "three@example.com")
    everyone = api.get("/suppressions").json()["data"]
    assert [s["email"] for s in everyone] == ["three@example.com", "two@example.org", "one@example.com"]
    bounced = api.get("/suppressions", params={"reason": "hard_bounce"}).json()["data"]
    assert [s["email"] for s in bounced] == ["one@example.com"]
    found = api.get("/suppressions", params={"q": "EXAMPLE.COM"}).json()["data"]
    assert [s["email"] for s in found] == ["three@example.com", "one@example.com"]

    first = api.get("/suppressions", params={"limit": 2}).json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    second = api.get("/suppressions", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [s["email"] for s in second["data"]] == ["one@example.com"] and second["next_cursor"] is None


def test_needs_an_api_key(anonymous: TestClient) -> None:
    assert anonymous.get("/suppressions").status_code == 401
    assert anonymous.post("/suppressions", json={"email": "a@example.com"}).status_code == 401


def _contact(api: TestClient, email: str) -> int:
    response = api.post("/contacts", json={"email": email})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _suppressed_by_postmark(settings: Settings, email: str, reason: SuppressionReason) -> None:
    # As a bounce webhook or a refused send leaves it: the row, and the contact's status.
    with transaction(session_factory(settings.resolved_database_url)) as session:
        suppress_address(session, email=email, reason=reason, source="postmark")


def _ineligible(settings: Settings, contact_id: int, kind: TemplateKind) -> str | None:
    with session_factory(settings.resolved_database_url)() as session:
        contact = get_contact(session, contact_id=contact_id)
        assert contact is not None
        return ineligible_reason(session, contact=contact, kind=kind, list_id=None)


def _activity(api: TestClient, contact_id: int) -> list[dict]:
    return list(api.get(f"/contacts/{contact_id}/activity").json()["data"])


@pytest.mark.parametrize(
    ("reason", "status"),
    [(SuppressionReason.HARD_BOUNCE, "bounced"), (SuppressionReason.SPAM_COMPLAINT, "complained")],
)
def test_delete_makes_the_contact_sendable_again(
    api: TestClient, settings: Settings, reason: SuppressionReason, status: str
) -> None:
    contact_id = _contact(api, "ann@example.com")
    _suppressed_by_postmark(settings, "ann@example.com", reason)
    assert api.get(f"/contacts/{contact_id}").json()["status"] == status

    assert api.delete("/suppressions/Ann@example.com").status_code == 204
    assert api.get(f"/contacts/{contact_id}").json()["status"] == "active"
    latest = _activity(api, contact_id)[0]
    assert latest["type"] == "contact.reactivated"
    assert latest["data"] == {
        "source": "api",
        "status": "active",
        "suppression_reason": reason.value,
        "suppression_source": "postmark",
    }
    assert _ineligible(settings, contact_id, TemplateKind.TRANSACTIONAL) is None
    assert _ineligible(settings, contact_id, TemplateKind.MARKETING) is None


def test_delete_leaves_an_unsubscribed_contact_unsubscribed(api: TestClient, settings: Settings) -> None:
    contact_id = _contact(api, "bob@example.com")
    assert api.patch(f"/contacts/{contact_id}", json={"status": "unsubscribed"}).status_code == 200
    _suppress(api, "bob@example.com", reason="hard_bounce")
    before = _activity(api, contact_id)

    assert api.delete("/suppressions/bob@example.com").status_code == 204
    assert api.get(f"/contacts/{contact_id}").json()["status"] == "unsubscribed"
    assert _activity(api, contact_id) == before


def test_delete_after_a_complaint_restores_the_unsubscribe(api: TestClient, settings: Settings) -> None:
    contact_id = _contact(api, "cat@example.com")
    with transaction(session_factory(settings.resolved_database_url)) as session:
        contact = get_contact(session, contact_id=contact_id)
        assert contact is not None
        unsubscribe(session, contact=contact, list_id=None, source="unsubscribe_page")
    # The complaint overwrites `unsubscribed`; lifting it must not opt the contact back in.
    _suppressed_by_postmark(settings, "cat@example.com", SuppressionReason.SPAM_COMPLAINT)

    assert api.delete("/suppressions/cat@example.com").status_code == 204
    assert api.get(f"/contacts/{contact_id}").json()["status"] == "unsubscribed"
    assert _activity(api, contact_id)[0]["data"]["status"] == "unsubscribed"
    assert _ineligible(settings, contact_id, TemplateKind.MARKETING) == "the contact is unsubscribed"


def test_delete_of_a_manual_suppression_leaves_the_status_alone(api: TestClient, settings: Settings) -> None:
    contact_id = _contact(api, "dan@example.com")
    # Bounced by an operator's hand, not by this suppression: lifting the suppression keeps it.
    assert api.patch(f"/contacts/{contact_id}", json={"status": "bounced"}).status_code == 200
    _suppress(api, "dan@example.com", reason="manual")
    before = _activity(api, contact_id)

    assert api.delete("/suppressions/dan@example.com").status_code == 204
    assert api.get(f"/contacts/{contact_id}").json()["status"] == "bounced"
    assert _activity(api, contact_id) == before
