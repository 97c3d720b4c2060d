"""User request and response models."""

from datetime import datetime

from pydantic import field_validator

from nurture.schemas.fields import Email, Input, Name, Output


class UserCreate(Input):
    """A new account user."""

    email: Email
    name: Name


class UserUpdate(Input):
    """Changes to a user."""

    email: Email | None = None
    name: Name | None = None

    @field_validator("email", "name")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value


class UserPublic(Output):
    """A user as the API returns it."""

    id: int
    email: str
    name: str
    created_at: datetime
    updated_at: datetime
