"""Account users: the people who own contacts and deals and send 1:1 email."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db.base import Base, BigId, Timestamps


class User(Timestamps, Base):
    """An account user; sending modes arrive with 1:1 email."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
