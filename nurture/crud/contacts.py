"""Contacts: look up, create, change and filter; changes land on the activity stream."""

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, lazyload

from nurture.crud.activity import record_activity
from nurture.crud.changes import apply_changes
from nurture.crud.search import matches
from nurture.db.models import Contact, ContactStatus, ContactTag, ListSubscription, SubscriptionStatus, Tag

# What a PATCH may change; custom_fields merge.
FIELDS = (
    "email",
    "first_name",
    "last_name",
    "phone",
    "timezone",
    "status",
    "owner_id",
    "account_id",
    "custom_fields",
)


def get_contact(session: Session, *, contact_id: int) -> Contact | None:
    """The contact with this id."""
    return session.get(Contact, contact_id)


def get_contact_for_work(session: Session, *, contact_id: int) -> Contact | None:
    """The contact with this id, its tags and subscriptions read only if used.

    For the worker's per-step work, which mostly needs neither: eager loading them cost two
    queries on every step.
    """
    return session.get(Contact, contact_id, options=[lazyload(Contact.tags), lazyload(Contact.subscriptions)])


def get_contact_by_email(session: Session, *, email: str) -> Contact | None:
    """The contact with this email, ignoring case."""
    return session.scalar(select(Contact).where(Contact.email == email.strip().lower()))


def create_contact(session: Session, *, fields: dict[str, Any], source: str = "api") -> Contact:
    """Insert a contact from validated fields and record `contact.created`."""
    contact = Contact(**fields)
    contact.email = contact.email.lower()
    contact.custom_fields = {k: v for k, v in (contact.custom_fields or {}).items() if v is not None}
    session.add(contact)
    session.flush()
    record_activity(session, contact_id=contact.id, type="contact.created", data={"source": source})
    return contact


def update_contact(session: Session, *, contact: Contact, changes: dict[str, Any]) -> list[str]:
    """Apply changes, merging custom_fields (None removes a key); returns the fields that changed."""
    changed = apply_changes(contact, FIELDS, changes)
    if changed:
        record_activity(session, contact_id=contact.id, type="contact.updated", data={"fields": changed})
        session.flush()
    return changed


def filter_contacts(
    *,
    email: str | None = None,
    status: ContactStatus | None = None,
    tag: str | None = None,
    list_id: int | None = None,
    list_status: SubscriptionStatus | None = None,
    owner_id: int | None = None,
    account_id: int | None = None,
    search: str | None = None,
) -> Select[Contact]:
    """A query for contacts matching every given filter."""
    query = select(Contact)
    if email:
        query = query.where(Contact.email == email.strip().lower())
    if status:
        query = query.where(Contact.status == status)
    if owner_id is not None:
        query = query.where(Contact.owner_id == owner_id)
    if account_id is not None:
        query = query.where(Contact.account_id == account_id)
    if tag:
        query = query.where(
            Contact.id.in_(
                select(ContactTag.contact_id)
                .join(Tag, Tag.id == ContactTag.tag_id)
                .where(func.lower(Tag.name) == tag.strip().lower())
            )
        )
    if list_id is not None:
        members = select(ListSubscription.contact_id).where(ListSubscription.list_id == list_id)
        if list_status is not None:
            members = members.where(ListSubscription.status == list_status)
        query = query.where(Contact.id.in_(members))
    if search:
        query = query.where(matches(search, Contact.email, Contact.first_name, Contact.last_name))
    return query
