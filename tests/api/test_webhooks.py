"""POST /webhooks/postmark with Postmark's documented payloads, pointed at a message the test sent."""

import base64
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from nurture.crud.messages import save_links
from nurture.crud.suppressions import blocks, get_suppression, suppress
from nurture.db.base import utcnow
from nurture.db.models import (
    ActivityEvent,
    Contact,
    ContactStatus,
    Message,
    MessageEvent,
    MessageStatus,
    Suppression,
    SuppressionReason,
    TemplateKind,
)
from nurture.db.session import session_factory, transaction
from nurture.schemas.email import METADATA_KEY
from nurture.settings import Settings
from nurture.tracking.links import instrument
from nurture.tracking.tokens import parse_keys, sign

FIXTURES = Path(__file__).parent.parent / "fixtures" / "postmark"
URL = "/webhooks/postmark"
EMAIL = "reader@example.com"


def fixture(name: str) -> dict[str, Any]:
    """One of Postmark's documented example payloads, verbatim."""
    payload: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return payload


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def auth(settings: Settings) -> dict[str, str]:
    """The credentials configured in Postmark's webhook URL."""
    return basic(settings.webhook_username, settings.webhook_password)


@dataclass
class Sent:
    message_id: int
    contact_id: int
    key: str
    provider_message_id: str


def send(settings: Settings, *, email: str = EMAIL, workflow_id: str | None = None) -> Sent:
    """A contact and a message already sent to it, as the sending pipeline leaves them."""
    with transaction(session_factory(settings.resolved_database_url)) as session:
        contact = Contact(email=email)
        session.add(contact)
        session.flush()
        message = Message(
            key=f"test:{uuid.uuid4()}",
            kind=TemplateKind.MARKETING,
            provider="postmark",
            stream="broadcast",
            contact_id=contact.id,
            to_email=email,
            from_email="news@example.com",
            subject="Hello",
            status=MessageStatus.SENT,
            provider_message_id=str(uuid.uuid4()),
            workflow_id=workflow_id,
            sent_at=utcnow(),
        )
        session.add(message)
        session.flush()
        return Sent(message.id, contact.id, message.key, message.provider_message_id or "")


def aimed(name: str, sent: Sent, *, email: str = EMAIL, **changes: Any) -> dict[str, Any]:
    """A documented payload rewritten to concern this message and address."""
    payload = fixture(name)
    payload["MessageID"] = sent.provider_message_id
    payload["Metadata"] = {METADATA_KEY: sent.key}
    payload["Email" if "Email" in payload else "Recipient"] = email
    payload.update(changes)
    return payload


def events(settings: Settings) -> list[MessageEvent]:
    with session_factory(settings.resolved_database_url)() as session:
        return list(session.scalars(select(MessageEvent).order_by(MessageEvent.id)))


def activity(settings: Settings, contact_id: int) -> list[str]:
    with session_factory(settings.resolved_database_url)() as session:
        query = select(ActivityEvent.type).where(ActivityEvent.contact_id == contact_id)
        return list(session.scalars(query.order_by(ActivityEvent.id)))


def suppression(settings: Settings, email: str = EMAIL) -> Suppression | None:
    with session_factory(settings.resolved_database_url)() as session:
        return get_suppression(session, email=email)


def contact_status(settings: Settings, contact_id: int) -> ContactStatus:
    with session_factory(settings.resolved_database_url)() as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        return contact.status


def count(settings: Settings, model: type[Any]) -> int:
    with session_factory(settings.resolved_database_url)() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize(
    ("name", "type"), [("delivery", "delivered"), ("open", "opened"), ("click", "clicked")]
)
def test_engagement_is_recorded_on_the_message(
    anonymous: TestClient, settings: Settings, auth: dict[str, str], name: str, type: str
) -> None:
    sent = send(settings)
    response = anonymous.post(URL, json=aimed(name, sent), headers=auth)

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["recorded"], body["repeat"], body["event"], body["message_id"]) == (
        True,
        False,
        type,
        sent.message_id,
    )
    [event] = events(settings)
    assert (event.message_id, event.type.value, event.source) == (sent.message_id, type, "postmark")
    # Chrome on a desktop in Serbia is a person.
    assert not event.machine
    assert event.url == ("https://example.com" if name == "click" else None)
    # Postmark gives these no ID: message, recipient and (for opens and clicks) time tell retries apart.
    assert event.dedup_key is not None
    assert event.dedup_key.startswith(f"postmark:{name.capitalize()}:{sent.provider_message_id}:{EMAIL}")
    assert activity(settings, sent.contact_id) == [f"email.{type}"]
    assert suppression(settings) is None
    assert contact_status(settings, sent.contact_id) == ContactStatus.ACTIVE


def test_postmark_timestamp_is_when_it_happened(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    anonymous.post(URL, json=aimed("open", sent), headers=auth)
    [event] = events(settings)
    assert event.occurred_at.isoformat() == "2019-11-05T16:33:54.907025+00:00"
    assert event.data["first_open"] is True
    assert event.data["platform"] == "WebMail"


def test_a_retried_payload_is_a_no_op(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    for name in ("delivery", "open", "click", "bounce"):
        payload = aimed(name, sent)
        first = anonymous.post(URL, json=payload, headers=auth).json()
        again = anonymous.post(URL, json=payload, headers=auth)
        assert again.status_code == 200
        assert first["recorded"] and not first["repeat"]
        assert again.json()["repeat"] is True
        assert again.json()["recorded"] is False
        assert again.json()["event"] == first["event"]
    assert [e.type.value for e in events(settings)] == ["delivered", "opened", "clicked", "bounced"]
    assert activity(settings, sent.contact_id) == [
        "email.delivered",
        "email.opened",
        "email.clicked",
        "email.bounced",
    ]


def test_each_open_and_click_counts(anonymous: TestClient, settings: Settings, auth: dict[str, str]) -> None:
    sent = send(settings)
    anonymous.post(URL, json=aimed("open", sent), headers=auth)
    anonymous.post(URL, json=aimed("open", sent, ReceivedAt="2019-11-05T17:00:00Z"), headers=auth)
    anonymous.post(URL, json=aimed("click", sent), headers=auth)
    anonymous.post(URL, json=aimed("click", sent, OriginalLink="https://example.com/other"), headers=auth)
    assert [e.type.value for e in events(settings)] == ["opened", "opened", "clicked", "clicked"]


def test_a_long_link_is_deduplicated_too(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    payload = aimed("click", sent, OriginalLink="https://example.com/?q=" + "x" * 2000)
    assert anonymous.post(URL, json=payload, headers=auth).json()["recorded"] is True
    assert anonymous.post(URL, json=payload, headers=auth).json()["repeat"] is True
    [event] = events(settings)
    assert event.url == payload["OriginalLink"]


def test_machine_opens_are_recorded_and_flagged(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    payload = aimed("open", sent, UserAgent="Mozilla/5.0 (Windows NT 5.1) GoogleImageProxy")
    assert anonymous.post(URL, json=payload, headers=auth).json()["recorded"] is True
    [event] = events(settings)
    assert event.machine
    assert event.machine_reason == "user agent GoogleImageProxy"


def test_the_message_is_found_by_postmark_message_id_without_metadata(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    payload = aimed("delivery", sent, Metadata={})
    assert anonymous.post(URL, json=payload, headers=auth).json()["message_id"] == sent.message_id


def test_the_metadata_key_wins_over_the_message_id(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    # Until the send is reconciled, the ledger may not know Postmark's MessageID yet.
    sent = send(settings)
    payload = aimed("delivery", sent, MessageID=str(uuid.uuid4()))
    assert anonymous.post(URL, json=payload, headers=auth).json()["message_id"] == sent.message_id


def test_hard_bounce_suppresses_even_transactional_email(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    response = anonymous.post(URL, json=aimed("bounce", sent), headers=auth)

    assert response.json()["event"] == "bounced"
    [event] = events(settings)
    assert event.type.value == "bounced"
    assert event.data["bounce"] == "hard"
    assert event.data["bounce_type"] == "HardBounce"
    # An int64 past 2**53 survives the JSON column.
    assert event.data["postmark_id"] == 4323372036854775807
    assert event.dedup_key == "postmark:Bounce:4323372036854775807"
    row = suppression(settings)
    assert row is not None
    assert row.reason == SuppressionReason.HARD_BOUNCE
    assert row.message_id == sent.message_id
    assert blocks(row, kind=TemplateKind.TRANSACTIONAL)
    assert contact_status(settings, sent.contact_id) == ContactStatus.BOUNCED
    assert activity(settings, sent.contact_id) == ["email.bounced"]


def test_inactive_address_is_suppressed_whatever_the_bounce_type(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    payload = aimed("bounce", sent, Type="Unknown", TypeCode=2048, Inactive=True)
    anonymous.post(URL, json=payload, headers=auth)
    row = suppression(settings)
    assert row is not None and row.reason == SuppressionReason.HARD_BOUNCE


def test_soft_bounce_is_recorded_but_does_not_suppress(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    payload = aimed("bounce", sent, Type="SoftBounce", TypeCode=4096, Name="Soft bounce", Inactive=False)
    response = anonymous.post(URL, json=payload, headers=auth)

    assert response.json()["recorded"] is True
    [event] = events(settings)
    assert event.type.value == "bounced"
    assert event.data["bounce"] == "soft"
    assert suppression(settings) is None
    assert contact_status(settings, sent.contact_id) == ContactStatus.ACTIVE


def test_auto_responder_is_acknowledged_and_ignored(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    payload = aimed("bounce", sent, Type="AutoResponder", TypeCode=64, Inactive=False)
    response = anonymous.post(URL, json=payload, headers=auth)

    assert response.status_code == 200
    assert response.json()["recorded"] is False
    assert response.json()["event"] is None
    assert events(settings) == []
    assert activity(settings, sent.contact_id) == []
    assert suppression(settings) is None


def test_spam_complaint_suppresses_marketing_only(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    response = anonymous.post(URL, json=aimed("spam_complaint", sent), headers=auth)

    assert response.json()["event"] == "complained"
    [event] = events(settings)
    assert event.type.value == "complained"
    row = suppression(settings)
    assert row is not None
    assert row.reason == SuppressionReason.SPAM_COMPLAINT
    assert blocks(row, kind=TemplateKind.MARKETING)
    assert not blocks(row, kind=TemplateKind.TRANSACTIONAL)
    assert contact_status(settings, sent.contact_id) == ContactStatus.COMPLAINED
    assert activity(settings, sent.contact_id) == ["email.complained"]


def test_postmark_unsubscribe_unsubscribes_the_contact(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    # Spelled as in one of Postmark's docs fixtures.
    payload = aimed("subscription_change", sent, SuppressionReason="ManualSupression", Origin="Recipient")
    response = anonymous.post(URL, json=payload, headers=auth)

    assert response.json()["event"] == "unsubscribed"
    [event] = events(settings)
    assert event.type.value == "unsubscribed"
    assert contact_status(settings, sent.contact_id) == ContactStatus.UNSUBSCRIBED
    assert activity(settings, sent.contact_id) == ["email.unsubscribed", "contact.unsubscribed"]
    # An unsubscribe is not a suppression: the contact still gets transactional email.
    assert suppression(settings) is None
    assert anonymous.post(URL, json=payload, headers=auth).json()["repeat"] is True
    assert len(activity(settings, sent.contact_id)) == 2


def test_subscription_change_hard_bounce_suppresses(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    response = anonymous.post(URL, json=aimed("subscription_change", sent), headers=auth)

    assert response.json()["event"] == "bounced"
    row = suppression(settings)
    assert row is not None and row.reason == SuppressionReason.HARD_BOUNCE
    assert contact_status(settings, sent.contact_id) == ContactStatus.BOUNCED


def test_bounce_and_its_subscription_change_record_one_bounce(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    anonymous.post(URL, json=aimed("bounce", sent), headers=auth)
    response = anonymous.post(URL, json=aimed("subscription_change", sent), headers=auth)

    assert response.status_code == 200
    assert response.json()["recorded"] is False
    assert [e.type.value for e in events(settings)] == ["bounced"]
    assert activity(settings, sent.contact_id) == ["email.bounced"]
    assert suppression(settings) is not None


def test_reactivation_lifts_the_matching_suppression(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    anonymous.post(URL, json=aimed("bounce", sent), headers=auth)
    assert contact_status(settings, sent.contact_id) == ContactStatus.BOUNCED
    # Reactivations carry no message and empty Metadata.
    payload = fixture("subscription_change") | {
        "MessageID": None,
        "Metadata": {},
        "Tag": None,
        "Recipient": EMAIL.upper(),
        "Origin": "Customer",
        "SuppressSending": False,
        "ChangedAt": "2020-02-02T10:00:00Z",
    }
    response = anonymous.post(URL, json=payload, headers=auth)

    assert response.status_code == 200
    assert response.json()["recorded"] is False
    assert suppression(settings) is None
    assert contact_status(settings, sent.contact_id) == ContactStatus.ACTIVE
    assert [e.type.value for e in events(settings)] == ["bounced"]
    assert activity(settings, sent.contact_id) == ["email.bounced", "contact.reactivated"]


def test_reactivation_keeps_a_suppression_of_another_reason(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        suppress(session, email=EMAIL, reason=SuppressionReason.MANUAL, source="api")
    payload = fixture("subscription_change") | {
        "MessageID": None,
        "Metadata": {},
        "Recipient": EMAIL,
        "SuppressSending": False,
        "SuppressionReason": "HardBounce",
    }
    assert anonymous.post(URL, json=payload, headers=auth).status_code == 200
    row = suppression(settings)
    assert row is not None and row.reason == SuppressionReason.MANUAL


def test_bounce_of_an_unknown_message_still_suppresses(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    # The docs payload as Postmark's "send test" button posts it: no message of ours.
    response = anonymous.post(URL, json=fixture("bounce"), headers=auth)

    assert response.status_code == 200
    body = response.json()
    assert (body["recorded"], body["repeat"], body["event"], body["message_id"]) == (False, False, None, None)
    assert "suppressed" in body["detail"]
    row = suppression(settings, "john@example.com")
    assert row is not None and row.reason == SuppressionReason.HARD_BOUNCE
    assert row.details is not None and "unable to deliver" in row.details
    assert events(settings) == []


def test_complaint_of_an_unknown_message_suppresses_the_known_contact(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings, email="john@example.com")
    payload = fixture("spam_complaint")  # MessageID 00000000-..., no metadata key: not our message
    assert anonymous.post(URL, json=payload, headers=auth).json()["message_id"] is None
    row = suppression(settings, "john@example.com")
    assert row is not None and row.reason == SuppressionReason.SPAM_COMPLAINT
    assert contact_status(settings, sent.contact_id) == ContactStatus.COMPLAINED


@pytest.mark.parametrize("name", ["delivery", "open", "click", "subscription_change"])
def test_other_events_of_unknown_messages_are_ignored(
    anonymous: TestClient, settings: Settings, auth: dict[str, str], name: str
) -> None:
    payload = fixture(name)
    if name == "subscription_change":
        payload["SuppressionReason"] = "ManualSuppression"
    response = anonymous.post(URL, json=payload, headers=auth)
    assert response.status_code == 200
    assert response.json()["recorded"] is False
    assert response.json()["message_id"] is None
    assert events(settings) == []
    assert count(settings, Suppression) == 0


def test_temporal_down_does_not_fail_the_webhook(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    # The settings fixture points Temporal at a closed port.
    sent = send(settings, workflow_id=f"message:{uuid.uuid4()}")
    response = anonymous.post(URL, json=aimed("open", sent), headers=auth)
    assert response.status_code == 200
    assert response.json()["recorded"] is True
    assert len(events(settings)) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer something"},
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        basic("postmark", "wrong"),
        basic("someone", "dev-webhook-password"),
    ],
)
def test_wrong_or_missing_credentials_are_401(
    anonymous: TestClient, settings: Settings, headers: dict[str, str]
) -> None:
    sent = send(settings)
    response = anonymous.post(URL, json=aimed("bounce", sent), headers=headers)

    # Never 403: that would stop Postmark's retries once the credentials are fixed.
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="postmark"'
    assert response.headers["content-type"] == "application/problem+json"
    assert events(settings) == []
    assert suppression(settings) is None


def test_malformed_json_is_400(anonymous: TestClient, settings: Settings, auth: dict[str, str]) -> None:
    response = anonymous.post(
        URL, content=b'{"RecordType": "Open",', headers=auth | {"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["title"] == "Malformed JSON"


def test_unknown_record_type_is_422_naming_it(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    response = anonymous.post(URL, json=aimed("delivery", sent, RecordType="Inbound"), headers=auth)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["RecordType"]
    assert "Inbound" in response.json()["detail"]
    assert events(settings) == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"MessageID": "x"}, "RecordType"),
        ([{"RecordType": "Open"}], "body"),
        ("Open", "body"),
    ],
)
def test_not_an_event_is_422(
    anonymous: TestClient, settings: Settings, auth: dict[str, str], payload: Any, field: str
) -> None:
    response = anonymous.post(URL, json=payload, headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field


def test_missing_field_is_422_and_nothing_written(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    payload = aimed("bounce", sent)
    del payload["BouncedAt"]
    response = anonymous.post(URL, json=payload, headers=auth)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["BouncedAt"]
    assert events(settings) == []
    assert suppression(settings) is None
    assert contact_status(settings, sent.contact_id) == ContactStatus.ACTIVE


@pytest.mark.parametrize(
    ("name", "field", "address"),
    [
        ("bounce", "Email", ""),
        ("bounce", "Email", "not-an-address"),
        ("spam_complaint", "Email", "reader@"),
        ("spam_complaint", "Email", " "),
        ("subscription_change", "Recipient", "reader example.com"),
    ],
)
def test_an_invalid_address_is_422_naming_it_and_nothing_written(
    api: TestClient,
    anonymous: TestClient,
    settings: Settings,
    auth: dict[str, str],
    name: str,
    field: str,
    address: str,
) -> None:
    sent = send(settings)
    response = anonymous.post(URL, json=aimed(name, sent, **{field: address}), headers=auth)

    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert response.headers["content-type"] == "application/problem+json"
    assert count(settings, Suppression) == 0
    assert api.get("/suppressions").json()["data"] == []
    assert events(settings) == []
    assert contact_status(settings, sent.contact_id) == ContactStatus.ACTIVE


def test_a_suppressed_address_is_lower_cased_and_readable_through_the_api(
    api: TestClient, anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    payload = fixture("bounce") | {"Email": "  John.Smith@Example.COM "}
    assert anonymous.post(URL, json=payload, headers=auth).status_code == 200
    row = api.get("/suppressions/john.smith@example.com")
    assert row.status_code == 200, row.text
    assert (row.json()["email"], row.json()["source"]) == ("john.smith@example.com", "postmark")
    assert api.delete("/suppressions/John.Smith@example.com").status_code == 204
    assert count(settings, Suppression) == 0


def _reactivation(**changes: Any) -> dict[str, Any]:
    # Reactivations carry no message and empty Metadata.
    return (
        fixture("subscription_change")
        | {
            "MessageID": None,
            "Metadata": {},
            "Tag": None,
            "Recipient": EMAIL,
            "Origin": "Customer",
            "SuppressSending": False,
            "ChangedAt": "2020-02-02T10:00:00Z",
        }
        | changes
    )


def test_reactivation_reactivates_the_contact_on_its_stream(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    anonymous.post(URL, json=aimed("spam_complaint", sent), headers=auth)
    assert contact_status(settings, sent.contact_id) == ContactStatus.COMPLAINED
    response = anonymous.post(URL, json=_reactivation(SuppressionReason="SpamComplaint"), headers=auth)

    assert "lifted" in response.json()["detail"]
    assert suppression(settings) is None
    assert contact_status(settings, sent.contact_id) == ContactStatus.ACTIVE
    assert activity(settings, sent.contact_id) == ["email.complained", "contact.reactivated"]


def test_reactivation_lifts_a_suppression_from_a_refused_send(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    # A send Postmark refused (422/406, inactive recipient) suppresses with source "provider".
    with transaction(session_factory(settings.resolved_database_url)) as session:
        suppress(session, email=EMAIL, reason=SuppressionReason.HARD_BOUNCE, source="provider")
    assert anonymous.post(URL, json=_reactivation(), headers=auth).status_code == 200
    assert suppression(settings) is None


def test_reactivation_keeps_a_suppression_an_operator_added(
    api: TestClient, anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    created = api.post("/suppressions", json={"email": EMAIL, "reason": "hard_bounce"})
    assert created.status_code == 201, created.text
    response = anonymous.post(URL, json=_reactivation(), headers=auth)

    assert response.status_code == 200
    assert response.json()["recorded"] is False
    assert "not from Postmark" in response.json()["detail"]
    assert api.get(f"/suppressions/{EMAIL}").json() == created.json()
    assert activity(settings, sent.contact_id) == []


def _tracked(settings: Settings, sent: Sent, urls: list[str]) -> list[str]:
    """The message's links as the sending pipeline leaves them: stored, and rewritten to click URLs."""
    with transaction(session_factory(settings.resolved_database_url)) as session:
        message = session.get(Message, sent.message_id)
        assert message is not None
        save_links(session, message=message, urls=urls)
    done = instrument(html=None, text=" ".join(urls), message_id=sent.message_id, settings=settings)
    assert done.text is not None and done.urls == urls
    return done.text.split()


def test_a_click_on_our_tracking_url_records_the_real_target(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    _, tracked = _tracked(settings, sent, ["https://shop.example/a", "https://shop.example/b?x=1"])
    assert tracked.startswith(settings.public_url.rstrip("/") + "/t/c/")
    response = anonymous.post(URL, json=aimed("click", sent, OriginalLink=tracked), headers=auth)

    assert response.json()["recorded"] is True
    [event] = events(settings)
    assert event.url == "https://shop.example/b?x=1"
    with session_factory(settings.resolved_database_url)() as session:
        query = select(ActivityEvent.data).where(ActivityEvent.contact_id == sent.contact_id)
        assert session.scalars(query).one()["url"] == "https://shop.example/b?x=1"


def test_a_forged_or_foreign_tracking_url_is_recorded_as_given(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    other = send(settings, email="other@example.com")
    [mine] = _tracked(settings, sent, ["https://shop.example/a"])
    [theirs] = _tracked(settings, other, ["https://elsewhere.example/"])
    altered = mine[:-3] + ("A" if mine[-3] != "A" else "B") + mine[-2:]
    foreign_key = sign("click", message_id=sent.message_id, keys=parse_keys("x:not-our-key", secret_key="x"))
    base = settings.public_url.rstrip("/")
    given = [altered, theirs, f"{base}/t/c/{foreign_key}", f"{base}/t/c/", f"{base}/t/o/x.gif"]
    for link in given:
        response = anonymous.post(URL, json=aimed("click", sent, OriginalLink=link), headers=auth)
        assert response.json()["recorded"] is True, link
    assert [e.url for e in events(settings)] == given
