"""POST /messages/transactional refuses bad input and unsendable recipients, naming the field,
before any run starts (Temporal is down here)."""

import pytest
from fastapi.testclient import TestClient

from nurture.crud.suppressions import suppress_address
from nurture.crud.templates import create_template
from nurture.db.models import Contact, ContactStatus, SuppressionReason
from nurture.db.session import session_factory, transaction
from nurture.schemas.email import TemplateKind
from nurture.settings import Settings

EMAIL = {"to": "ada@example.com", "subject": "Reset your password", "html": "<p>Click</p>"}


@pytest.fixture
def template_id(settings: Settings) -> int:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        template = create_template(
            session, name="Reset", kind=TemplateKind.TRANSACTIONAL, subject="Reset", html_body="<p>x</p>"
        )
        session.flush()
        return template.id


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"subject": "Hi", "html": "<p>x</p>"}, "to", "give either to or contact_id"),
        ({**EMAIL, "contact_id": 1}, "to", "give either to or contact_id"),
        ({"to": "ada@example.com"}, "subject", "give template_id, or subject with html and/or text"),
        ({"to": "ada@example.com", "subject": "Hi"}, "html", "give html and/or text with the subject"),
        (
            {**EMAIL, "template_id": 1},
            "template_id",
            "give either template_id or subject with html/text, not both",
        ),
        ({**EMAIL, "to": "not an address"}, "to", "value is not a valid email address"),
        ({**EMAIL, "reply_to": "nobody"}, "reply_to", "value is not a valid email address"),
        ({**EMAIL, "metadata": {"order": 7}}, "metadata.order", "Input should be a valid string"),
        ({**EMAIL, "metadata": {"nurture_message_key": "x"}}, "metadata", "is Nurture's own"),
        ({**EMAIL, "metadata": {f"k{i}": "v" for i in range(11)}}, "metadata", "at most 10 fields"),
        ({**EMAIL, "subject": "x" * 999}, "subject", "at most 998 characters"),
        ({"to": "ada@example.com", "template_id": 999}, "template_id", "template 999 does not exist"),
        ({"contact_id": 999, "subject": "Hi", "text": "x"}, "contact_id", "contact 999 does not exist"),
        ({**EMAIL, "cc": ["b@example.com"]}, "cc", "Extra inputs are not permitted"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    api: TestClient, template_id: int, body: dict[str, object], field: str, message: str
) -> None:
    response = api.post("/messages/transactional", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field and message in error["message"], error


@pytest.mark.parametrize(
    ("reason", "shown"),
    [(SuppressionReason.HARD_BOUNCE, "hard_bounce"), (SuppressionReason.SPAM_COMPLAINT, "spam_complaint")],
)
def test_hard_bounced_and_complained_addresses_are_refused(
    api: TestClient, settings: Settings, reason: SuppressionReason, shown: str
) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        contact = Contact(email="grace@example.com")
        session.add(contact)
        session.flush()
        suppress_address(session, email="grace@example.com", reason=reason, source="test")
        contact_id = contact.id
    for body, field in (
        ({**EMAIL, "to": "Grace@Example.com"}, "to"),
        ({"contact_id": contact_id, "subject": "Receipt", "text": "Thanks"}, "contact_id"),
    ):
        response = api.post("/messages/transactional", json=body)
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert error["field"] == field
        assert (
            f"is on the suppression list ({shown}): transactional email is not sent to it" in error["message"]
        )


def test_a_contact_who_unsubscribed_from_marketing_is_not_refused(
    api: TestClient, settings: Settings
) -> None:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        contact = Contact(email="alan@example.com", status=ContactStatus.UNSUBSCRIBED)
        session.add(contact)
        session.flush()
        contact_id = contact.id
    response = api.post(
        "/messages/transactional", json={"contact_id": contact_id, "subject": "Receipt", "text": "x"}
    )
    # Past the checks: only Temporal, down in this test, stops it.
    assert response.status_code == 503 and "Temporal" in response.json()["detail"]
