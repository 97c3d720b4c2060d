"""Contact input models, shared by the API and the CSV importer."""

from typing import Annotated

from pydantic import Field, StringConstraints

from nurture.db.models import ContactStatus, SubscriptionStatus
from nurture.schemas.fields import ConsentSource, CustomFields, Email, Id, Input, IpAddress, Name, TimeZone

Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]
TagName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ListMembershipIn(Input):
    """Subscribe the new contact to a list, with the consent evidence."""

    list_id: Id
    status: SubscriptionStatus = SubscriptionStatus.SUBSCRIBED
    consent_source: ConsentSource | None = None
    consent_ip: IpAddress | None = None


class ContactCreate(Input):
    """A new contact."""

    email: Email
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    timezone: TimeZone | None = None
    custom_fields: CustomFields = Field(default_factory=dict)
    status: ContactStatus = ContactStatus.ACTIVE
    owner_id: Id | None = None
    account_id: Id | None = None
    tags: list[TagName] = Field(default_factory=list, max_length=100)
    lists: list[ListMembershipIn] = Field(default_factory=list, max_length=100)
