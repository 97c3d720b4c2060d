"""Field types every input is validated with: emails, names, time zones, custom fields, ids."""

import ipaddress
import math
import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from email.utils import formataddr, parseaddr
from functools import lru_cache
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

MAX_FIELD_KEY_LENGTH = 64
_FIELD_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_CUSTOM_FIELDS = 100
MAX_CUSTOM_FIELD_LENGTH = 5_000


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class Input(BaseModel):
    """Base of request bodies: unknown fields are refused, so a typo names itself."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _refuse_nul(cls, value: object) -> object:
        # PostgreSQL cannot store NUL in text; refuse it here, naming the field, on every database.
        if _has_nul(value):
            raise ValueError("may not contain the NUL character")
        return value


def _refuse_null(cls: type, value: object) -> object:
    if value is None:
        raise ValueError("may not be null")
    return value


def not_null(*fields: str) -> Any:
    """A validator for PATCH models: these fields may be left out, but not set to null."""
    return field_validator(*fields)(_refuse_null)


class Output(BaseModel):
    """Base of response bodies, read from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_timezone(value: str) -> str:
    if value not in _zones():
        raise ValueError(f"'{value}' is not an IANA time zone such as 'Europe/Paris'")
    return value


def _check_custom_fields(value: dict[str, object]) -> dict[str, object]:
    if len(value) > MAX_CUSTOM_FIELDS:
        raise ValueError(f"at most {MAX_CUSTOM_FIELDS} custom fields")
    for key, item in value.items():
        if len(key) > MAX_FIELD_KEY_LENGTH:
            # Named by its start: the whole key would make the refusal as large as the request.
            raise ValueError(f"key '{key[:20]}...' is longer than {MAX_FIELD_KEY_LENGTH} characters")
        # Keys become template variables (`contact.custom.plan`), so they must be identifiers.
        if not _FIELD_KEY.match(key):
            raise ValueError(f"key '{key}' must start with a letter or _ and hold only letters, digits and _")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"'{key}' must be a finite number")
        if isinstance(item, str) and len(item) > MAX_CUSTOM_FIELD_LENGTH:
            raise ValueError(f"'{key}' is longer than {MAX_CUSTOM_FIELD_LENGTH} characters")
        if item is not None and not isinstance(item, str | int | float | bool):
            raise ValueError(f"'{key}' must be a string, number, boolean or null, not a list or object")
    return value


def _check_ip(value: str) -> str:
    try:
        # Stored normalised, so one address is always written the same way.
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv4 or IPv6 address") from None


IpAddress = Annotated[str, StringConstraints(strip_whitespace=True, max_length=45), AfterValidator(_check_ip)]


def _not_in_future(value: datetime) -> datetime:
    # A little slack for the caller's clock; consent recorded as given next year is not evidence.
    if value > datetime.now(UTC) + timedelta(minutes=5):
        raise ValueError("may not be in the future")
    return value


PastTime = Annotated[AwareDatetime, AfterValidator(_not_in_future)]

Email = Annotated[EmailStr, AfterValidator(str.lower)]


def _check_from_address(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("may not contain a line break")
    name, address = parseaddr(value)
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"'{value}' is not an address such as 'Ada <ada@example.com>': {exc}") from None
    return formataddr((name, address)) if name else address


# A sender as a mail header writes it: `Ada Lovelace <ada@example.com>` or a bare address.
FromAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=400),
    AfterValidator(_check_from_address),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
TimeZone = Annotated[str, AfterValidator(_check_timezone)]
CustomFields = Annotated[dict[str, Any], AfterValidator(_check_custom_fields)]
# Ids live in BIGINT columns; a larger number could never match and would overflow the driver.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
ConsentSource = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
