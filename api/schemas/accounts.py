"""Account (company) request and response models."""

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from nurture.db.models import Account
from nurture.schemas.fields import CustomFields, Id, Input, Name, Output, not_null

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _check_domain(value: str) -> str:
    domain = value.lower().rstrip(".")
    if "/" in domain or ":" in domain or "@" in domain:
        raise ValueError(f"'{value}' is not a bare domain; give one such as 'example.com'")
    try:
        # Internationalised names are stored in their ASCII (punycode) form, as DNS sees them.
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"'{value}' is not a domain such as 'example.com'") from exc
    labels = domain.split(".")
    # A numeric last label would make IP addresses pass for domains.
    if (
        len(domain) > 253
        or len(labels) < 2
        or labels[-1].isdigit()
        or not all(_LABEL.match(label) for label in labels)
    ):
        raise ValueError(f"'{value}' is not a domain such as 'example.com'")
    return domain


Domain = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=255), AfterValidator(_check_domain)
]


class AccountCreate(Input):
    """A new account."""

    name: Name
    domain: Domain | None = None
    owner_id: Id | None = None
    custom_fields: CustomFields = Field(default_factory=dict)


class AccountUpdate(Input):
    """Changes to an account; custom_fields are merged, and a null value removes that key."""

    name: Name | None = None
    domain: Domain | None = None
    owner_id: Id | None = None
    custom_fields: CustomFields | None = None

    _not_null = not_null("name", "custom_fields")


class AccountPublic(Output):
    """An account as the API returns it, with the ids of its deals."""

    id: int
    name: str
    domain: str | None
    owner_id: int | None
    custom_fields: dict[str, object]
    deal_ids: list[int]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, account: Account, *, deal_ids: list[int]) -> "AccountPublic":
        """Build from a row and the ids of its deals."""
        return cls(
            id=account.id,
            name=account.name,
            domain=account.domain,
            owner_id=account.owner_id,
            custom_fields=account.custom_fields,
            deal_ids=deal_ids,
            created_at=account.created_at,
            updated_at=account.updated_at,
        )
