"""Deal request and response models; money is a decimal, returned as a string such as "1500.00"."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, PlainSerializer, StringConstraints

from nurture.db.models import Deal
from nurture.schemas.fields import Id, Input, Name, Output, not_null

MAX_CONTACTS = 100


def _check_currency(value: str) -> str:
    if len(value) != 3 or not value.isascii() or not value.isalpha():
        raise ValueError(f"'{value}' is not an ISO 4217 currency code such as 'USD'")
    return value


# Out as a string: every cent stays exact, where a JSON number passes through binary floats in
# most clients. In, a number or a decimal string; the column is NUMERIC(14, 2).
MoneyOut = Annotated[
    Decimal, PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json")
]
Money = Annotated[MoneyOut, Field(ge=0, max_digits=14, decimal_places=2, examples=["1500.00"])]
Currency = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True), AfterValidator(_check_currency)
]
Stage = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ContactIds = Annotated[list[Id], Field(max_length=MAX_CONTACTS)]


class DealCreate(Input):
    """A new deal; `value` is a number or a decimal string with at most 2 decimals."""

    title: Name
    value: Money
    currency: Currency = "USD"
    stage: Stage
    owner_id: Id | None = None
    account_id: Id | None = None
    contact_ids: ContactIds = Field(default_factory=list)


class DealUpdate(Input):
    """Changes to a deal; `contact_ids`, if given, replaces the deal's contacts."""

    title: Name | None = None
    value: Money | None = None
    currency: Currency | None = None
    stage: Stage | None = None
    owner_id: Id | None = None
    account_id: Id | None = None
    contact_ids: ContactIds | None = None

    _not_null = not_null("title", "value", "currency", "stage", "contact_ids")


class DealPublic(Output):
    """A deal as the API returns it; `value` is a string with 2 decimals."""

    id: int
    title: str
    value: MoneyOut
    currency: str
    stage: str
    owner_id: int | None
    account_id: int | None
    contact_ids: list[int]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, deal: Deal, *, contact_ids: list[int]) -> "DealPublic":
        """Build from a row and the ids of its contacts."""
        return cls(
            id=deal.id,
            title=deal.title,
            value=deal.value,
            currency=deal.currency,
            stage=deal.stage,
            owner_id=deal.owner_id,
            account_id=deal.account_id,
            contact_ids=contact_ids,
            created_at=deal.created_at,
            updated_at=deal.updated_at,
        )
