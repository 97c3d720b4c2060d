"""List and subscription request and response models."""

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from nurture.db.models import ListSubscription, MailingList, SubscriptionStatus
from nurture.schemas.fields import ConsentSource, Id, Input, IpAddress, Name, Output, PastTime, not_null

Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class ListCreate(Input):
    """A new list."""

    name: Name
    description: Description | None = None


class ListUpdate(Input):
    """Changes to a list; a null description clears it."""

    name: Name | None = None
    description: Description | None = None

    _not_null = not_null("name")


class SubscriptionCounts(Output):
    """How many contacts are on a list in each status."""

    subscribed: int = 0
    unsubscribed: int = 0
    pending: int = 0


class ListPublic(Output):
    """A list as the API returns it, with its member counts."""

    id: int
    name: str
    description: str | None
    counts: SubscriptionCounts
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: MailingList, *, counts: dict[SubscriptionStatus, int]) -> "ListPublic":
        """Build from a row and its counts by status."""
        return cls(
            id=row.id,
            name=row.name,
            description=row.description,
            counts=SubscriptionCounts(**{status.value: n for status, n in counts.items()}),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class SubscriptionCreate(Input):
    """Put a contact on a list, with the consent evidence."""

    contact_id: Id
    status: SubscriptionStatus = SubscriptionStatus.SUBSCRIBED
    consent_source: ConsentSource | None = None
    consent_ip: IpAddress | None = None
    consent_at: PastTime | None = Field(default=None, description="When consent was given; now if left out")


class SubscriptionUpdate(Input):
    """Change a contact's standing on a list."""

    status: SubscriptionStatus
    consent_source: ConsentSource | None = None
    consent_ip: IpAddress | None = None


class SubscriptionPublic(Output):
    """A contact's subscription to a list, with the consent evidence."""

    id: int
    list_id: int
    contact_id: int
    email: str
    status: SubscriptionStatus
    consent_source: str | None
    consent_at: datetime | None
    consent_ip: str | None
    unsubscribed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: ListSubscription, *, email: str) -> "SubscriptionPublic":
        """Build from a row and the contact's email."""
        return cls(
            id=row.id,
            list_id=row.list_id,
            contact_id=row.contact_id,
            email=email,
            status=row.status,
            consent_source=row.consent_source,
            consent_at=row.consent_at,
            consent_ip=row.consent_ip,
            unsubscribed_at=row.unsubscribed_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
