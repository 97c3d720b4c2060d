"""POST /webhooks/postmark with webhooks in another order than Postmark sent them (its retries come
minutes to hours later): the final events, stream and standing must not depend on it. Found by
`make chaos` (fault 6)."""

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from nurture.db.base import utcnow
from nurture.db.models import (
    ContactStatus,
    Message,
    MessageEvent,
    MessageStatus,
    SuppressionReason,
    TemplateKind,
)
from nurture.db.session import session_factory, transaction
from nurture.settings import Settings
from tests.api.test_webhooks import (
    EMAIL,
    URL,
    Sent,
    activity,
    aimed,
    auth,
    contact_status,
    events,
    fixture,
    send,
    suppression,
)

__all__ = ["auth"]


def _data(settings: Settings) -> dict[str, object]:
    with session_factory(settings.resolved_database_url)() as session:
        [data] = session.scalars(select(MessageEvent.data))
        return data


def test_a_subscription_change_before_its_bounce_records_one_bounce_with_the_bounce_details(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    anonymous.post(URL, json=aimed("subscription_change", sent), headers=auth)
    response = anonymous.post(URL, json=aimed("bounce", sent, Inactive=True), headers=auth)

    assert response.status_code == 200
    assert response.json()["recorded"] is False
    assert [e.type.value for e in events(settings)] == ["bounced"]
    assert activity(settings, sent.contact_id) == ["email.bounced"]
    # The one event carries what the Bounce says, not only the SubscriptionChange's reason.
    assert _data(settings)["bounce_type"] == "HardBounce"
    row = suppression(settings)
    assert row is not None and row.reason == SuppressionReason.HARD_BOUNCE
    assert contact_status(settings, sent.contact_id) == ContactStatus.BOUNCED
    # Postmark's retry of the Bounce changes nothing either.
    anonymous.post(URL, json=aimed("bounce", sent, Inactive=True), headers=auth)
    assert [e.type.value for e in events(settings)] == ["bounced"]


def test_a_subscription_change_before_its_spam_complaint_records_one_complaint(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    change = aimed("subscription_change", sent, SuppressionReason="SpamComplaint")
    anonymous.post(URL, json=change, headers=auth)
    response = anonymous.post(URL, json=aimed("spam_complaint", sent), headers=auth)

    assert response.status_code == 200
    assert [e.type.value for e in events(settings)] == ["complained"]
    assert activity(settings, sent.contact_id) == ["email.complained"]
    row = suppression(settings)
    assert row is not None and row.reason == SuppressionReason.SPAM_COMPLAINT
    assert contact_status(settings, sent.contact_id) == ContactStatus.COMPLAINED


def _reactivation(reason: str) -> dict[str, object]:
    """Postmark reactivating the address at 10:00 (a reactivation concerns no message)."""
    return fixture("subscription_change") | {
        "MessageID": None,
        "Metadata": {},
        "Tag": None,
        "Recipient": EMAIL,
        "SuppressSending": False,
        "SuppressionReason": reason,
        "ChangedAt": "2030-01-01T10:00:00Z",
    }


def test_a_reactivation_that_overtakes_its_bounce_still_leaves_the_address_active(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    reactivation = _reactivation("HardBounce")
    anonymous.post(URL, json=reactivation, headers=auth)
    anonymous.post(URL, json=aimed("bounce", sent, BouncedAt="2030-01-01T09:00:00Z"), headers=auth)

    assert suppression(settings) is None
    assert contact_status(settings, sent.contact_id) == ContactStatus.ACTIVE
    # The bounce is on the message all the same, once; a later bounce suppresses as usual.
    assert [e.type.value for e in events(settings)] == ["bounced"]
    later = aimed("bounce", sent, ID=99, BouncedAt="2030-01-02T09:00:00Z", Inactive=True)
    anonymous.post(URL, json=later, headers=auth)
    row = suppression(settings)
    assert row is not None and row.reason == SuppressionReason.HARD_BOUNCE
    assert contact_status(settings, sent.contact_id) == ContactStatus.BOUNCED


def test_a_reactivation_that_overtakes_the_subscription_change_it_lifts_still_wins(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    reactivation = _reactivation("HardBounce")
    suppressed = aimed("subscription_change", sent, ChangedAt="2030-01-01T09:00:01Z")
    for payload in (reactivation, suppressed, aimed("bounce", sent, BouncedAt="2030-01-01T09:00:00Z")):
        assert anonymous.post(URL, json=payload, headers=auth).status_code == 200

    assert suppression(settings) is None
    assert contact_status(settings, sent.contact_id) == ContactStatus.ACTIVE
    assert [e.type.value for e in events(settings)] == ["bounced"]


def test_a_reactivation_that_overtakes_its_complaint_still_leaves_the_address_unsuppressed(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    sent = send(settings)
    reactivation = _reactivation("SpamComplaint")
    anonymous.post(URL, json=reactivation, headers=auth)
    anonymous.post(URL, json=aimed("spam_complaint", sent, BouncedAt="2030-01-01T09:00:00Z"), headers=auth)

    assert suppression(settings) is None
    assert contact_status(settings, sent.contact_id) == ContactStatus.ACTIVE
    assert [e.type.value for e in events(settings)] == ["complained"]


def _another_message(settings: Settings, sent: Sent) -> Sent:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        message = Message(
            key=f"test:{uuid.uuid4()}",
            kind=TemplateKind.MARKETING,
            provider="postmark",
            stream="broadcast",
            contact_id=sent.contact_id,
            to_email=EMAIL,
            from_email="news@example.com",
            subject="Hello again",
            status=MessageStatus.SENT,
            provider_message_id=str(uuid.uuid4()),
            sent_at=utcnow(),
        )
        session.add(message)
        session.flush()
        return Sent(message.id, sent.contact_id, message.key, message.provider_message_id or "")


def test_a_complaint_handled_after_a_hard_bounce_leaves_the_contact_bounced(
    anonymous: TestClient, settings: Settings, auth: dict[str, str]
) -> None:
    # The complaint is about an earlier email (feedback loops take days); the later one bounced.
    bounced = send(settings)
    complained = _another_message(settings, bounced)
    anonymous.post(URL, json=aimed("bounce", bounced, Inactive=True), headers=auth)
    anonymous.post(URL, json=aimed("spam_complaint", complained), headers=auth)

    row = suppression(settings)
    assert row is not None and row.reason == SuppressionReason.HARD_BOUNCE
    assert contact_status(settings, bounced.contact_id) == ContactStatus.BOUNCED
