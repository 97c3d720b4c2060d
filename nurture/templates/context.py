"""What a template sees: `contact` (with its custom fields), `sender`, `model`, and extras."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from nurture.db.models import Contact, ContactStatus, User
from nurture.templates.environment import Record, expose

RESERVED = ("contact", "sender", "model")


@dataclass(frozen=True)
class Sender:
    """Who the email is from."""

    name: str | None
    email: str


def contact_fields(session: Session, contact: Contact) -> dict[str, Any]:
    """A contact as templates see it: custom fields at the top level, built-in names winning."""
    owner = session.get(User, contact.owner_id) if contact.owner_id is not None else None
    custom = dict(contact.custom_fields or {})
    full_name = " ".join(part for part in (contact.first_name, contact.last_name) if part) or None
    builtin = {
        "id": contact.id,
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "full_name": full_name,
        "phone": contact.phone,
        "timezone": contact.timezone,
        "status": contact.status.value if contact.status else None,
        # Always present, so `{{ contact.owner.name }}` prints nothing for a contact without one.
        "owner": {
            "id": owner.id if owner else None,
            "name": owner.name if owner else None,
            "email": owner.email if owner else None,
        },
        "custom_fields": custom,
    }
    return {**custom, **builtin}


def build_context(
    session: Session,
    *,
    contact: Contact,
    sender: Sender,
    model: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The variables of one render; `extra` keys sit at the top level but cannot hide the three above."""
    context: dict[str, Any] = {
        key: expose(value, key) for key, value in (extra or {}).items() if key not in RESERVED
    }
    context["contact"] = expose(contact_fields(session, contact), "contact")
    context["sender"] = Record({"name": sender.name, "email": sender.email}, "sender")
    context["model"] = expose(model, "model")
    return context


def example_contact() -> Contact:
    """An unsaved contact to preview a template with when no contact is chosen."""
    return Contact(
        id=None,
        email="jane.doe@example.com",
        first_name="Jane",
        last_name="Doe",
        phone=None,
        timezone="UTC",
        custom_fields={},
        status=ContactStatus.ACTIVE,
        owner_id=None,
    )


def recipient_contact(email: str) -> Contact:
    """An unsaved contact standing for a recipient who is no contact (a transactional email to an
    address): a template sees its address and nothing more."""
    return Contact(id=None, email=email, status=ContactStatus.ACTIVE, custom_fields={}, owner_id=None)
