"""Contact request and response models."""

from datetime import datetime

from pydantic import Field

from nurture.db.models import Contact, ContactStatus, SubscriptionStatus
from nurture.schemas.contacts import Phone, TagName
from nurture.schemas.fields import CustomFields, Email, Id, Input, Name, Output, TimeZone, not_null


class ContactUpdate(Input):
    """Changes to a contact; custom_fields are merged, and a null value removes that key."""

    email: Email | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    timezone: TimeZone | None = None
    custom_fields: CustomFields | None = None
    status: ContactStatus | None = None
    owner_id: Id | None = None
    account_id: Id | None = None

    _not_null = not_null("email", "status", "custom_fields")


class TagsIn(Input):
    """Tags to add to a contact."""

    tags: list[TagName] = Field(min_length=1, max_length=100)


class ListMembership(Output):
    """A contact's standing on one list."""

    list_id: int
    status: SubscriptionStatus
    consent_source: str | None
    consent_at: datetime | None


class ContactPublic(Output):
    """A contact as the API returns it."""

    id: int
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    timezone: str | None
    custom_fields: dict[str, object]
    status: ContactStatus
    owner_id: int | None
    account_id: int | None
    tags: list[str]
    lists: list[ListMembership]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, contact: Contact) -> "ContactPublic":
        """Build from a row, flattening tags to names."""
        return cls(
            id=contact.id,
            email=contact.email,
            first_name=contact.first_name,
            last_name=contact.last_name,
            phone=contact.phone,
            timezone=contact.timezone,
            custom_fields=contact.custom_fields,
            status=contact.status,
            owner_id=contact.owner_id,
            account_id=contact.account_id,
            tags=sorted((tag.name for tag in contact.tags), key=str.lower),
            lists=[ListMembership.model_validate(s) for s in contact.subscriptions],
            created_at=contact.created_at,
            updated_at=contact.updated_at,
        )


class ActivityPublic(Output):
    """One event on a contact's activity stream."""

    id: int
    type: str
    occurred_at: datetime
    data: dict[str, object]
