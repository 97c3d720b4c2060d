"""POST /messages refuses bad input with the field named, before any run starts (Temporal is down here)."""

import pytest
from fastapi.testclient import TestClient

from nurture.crud.templates import create_template
from nurture.db.models import Contact
from nurture.db.session import session_factory, transaction
from nurture.schemas.email import TemplateKind
from nurture.settings import Settings


@pytest.fixture
def ids(settings: Settings) -> tuple[int, int]:
    with transaction(session_factory(settings.resolved_database_url)) as session:
        contact = Contact(email="ada@example.com")
        session.add(contact)
        template = create_template(
            session, name="Receipt", kind=TemplateKind.TRANSACTIONAL, subject="Receipt", html_body="<p>x</p>"
        )
        session.flush()
        return template.id, contact.id


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"from_email": "Evil <x@evil.example>\r\nBcc: y@z.com"},
            "from_email",
            "may not contain a line break",
        ),
        ({"from_email": "not an email at all"}, "from_email", "is not an address such as"),
        ({"key": "ada@example.com"}, "key", "String should match pattern"),
        ({"key": "has space"}, "key", "String should match pattern"),
        ({"template_id": 999}, "template_id", "template 999 does not exist"),
        ({"contact_id": 999}, "contact_id", "contact 999 does not exist"),
        ({"list_id": 1}, "list_id", "only marketing email is sent for a list"),
        ({"surprise": 1}, "surprise", "Extra inputs are not permitted"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    api: TestClient, ids: tuple[int, int], change: dict[str, object], field: str, message: str
) -> None:
    template_id, contact_id = ids
    response = api.post("/messages", json={"template_id": template_id, "contact_id": contact_id} | change)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field and message in error["message"]


def test_a_valid_request_needs_temporal_and_says_so(api: TestClient, ids: tuple[int, int]) -> None:
    template_id, contact_id = ids
    response = api.post(
        "/messages",
        json={"template_id": template_id, "contact_id": contact_id, "from_email": "Ada <ada@example.com>"},
    )
    assert response.status_code == 503 and "Temporal" in response.json()["detail"]
