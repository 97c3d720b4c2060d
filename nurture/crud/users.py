"""Account users."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.db.models import User


def get_user(session: Session, *, user_id: int) -> User | None:
    """The user with this id."""
    return session.get(User, user_id)


def get_user_by_email(session: Session, *, email: str) -> User | None:
    """The user with this email, ignoring case."""
    return session.scalar(select(User).where(User.email == email.strip().lower()))
