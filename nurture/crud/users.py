"""Account users: look up, create, change, filter."""

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nurture.crud.changes import apply_changes
from nurture.crud.search import matches
from nurture.db.models import User

# Columns a caller may set.
FIELDS = ("email", "name")


def get_user(session: Session, *, user_id: int) -> User | None:
    """The user with this id."""
    return session.get(User, user_id)


def get_user_by_email(session: Session, *, email: str) -> User | None:
    """The user with this email, ignoring case."""
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def create_user(session: Session, *, email: str, name: str) -> User:
    """Insert a user; the email is stored lower-cased so uniqueness ignores case."""
    user = User(email=email.strip().lower(), name=name)
    session.add(user)
    session.flush()
    return user


def update_user(session: Session, *, user: User, changes: dict[str, Any]) -> list[str]:
    """Apply the changes given; returns the fields that changed."""
    changed = apply_changes(user, FIELDS, changes)
    if "email" in changed:
        user.email = user.email.strip().lower()
    session.flush()
    return changed


def filter_users(*, email: str | None = None, search: str | None = None) -> Select[User]:
    """A query for users matching every given filter; `search` looks in email and name."""
    query = select(User)
    if email:
        query = query.where(User.email == email.strip().lower())
    if search:
        query = query.where(matches(search, User.email, User.name))
    return query
