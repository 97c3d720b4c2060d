"""POST /messages/transactional refuses bad input and unsendable recipients, naming the field,
before any run starts (Temporal is down here)."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.schemas.transactional import MAX_REQUEST_BYTES
from nurture.crud.suppressions import suppress_address
from nurture.crud.templates import create_template
from nurture.db.models import Contact, ContactStatus, StagedAttachment, SuppressionReason
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
        (
            {**EMAIL, "attachments": [{"name": "a.pdf", "content": "%%"}]},
            "attachments[0].content",
            "not base64",
        ),
        (
            {**EMAIL, "attachments": [{"name": "../etc/passwd", "content": "aGk="}]},
            "attachments[0].name",
            "should match pattern",
        ),
        (
            {**EMAIL, "attachments": [{"name": "a", "content": "aGk=", "content_type": "pdf"}]},
            "attachments[0].content_type",
            "should match pattern",
        ),
        (
            {**EMAIL, "attachments": [{"name": f"{i}.bin", "content": "A" * 2_400_000} for i in range(6)]},
            "attachments",
            "10,800,000 bytes in all; Postmark takes up to 10,000,000",
        ),
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


def test_nothing_is_staged_for_a_refused_request(api: TestClient, settings: Settings) -> None:
    files = [{"name": "invoice.pdf", "content": "JVBERi0xLjQ="}]
    response = api.post("/messages/transactional", json={**EMAIL, "to": "nobody", "attachments": files})
    assert response.status_code == 422
    with session_factory(settings.resolved_database_url)() as session:
        assert session.scalar(select(func.count()).select_from(StagedAttachment)) == 0


def test_a_body_over_the_route_s_limit_is_refused_before_it_is_read(api: TestClient) -> None:
    content = "A" * MAX_REQUEST_BYTES
    response = api.post(
        "/messages/transactional", json={**EMAIL, "attachments": [{"name": "x", "content": content}]}
    )
    assert response.status_code == 413
    assert response.json()["detail"] == f"The request body is over {MAX_REQUEST_BYTES:,} bytes"
