"""User request and response models."""

from datetime import datetime

from nurture.schemas.fields import Email, Input, Name, Output, not_null


class UserCreate(Input):
    """A new account user."""

    email: Email
    name: Name


class UserUpdate(Input):
    """Changes to a user."""

    email: Email | None = None
    name: Name | None = None

    _not_null = not_null("email", "name")


class UserPublic(Output):
    """A user as the API returns it."""

    id: int
    email: str
    name: str
    created_at: datetime
    updated_at: datetime
