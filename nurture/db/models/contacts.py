"""Contacts and the tags on them."""

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Enum, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture.db.base import Base, BigId, JsonDict, Timestamps, UTCDateTime, utcnow

if TYPE_CHECKING:
    from nurture.db.models.lists import ListSubscription


class ContactStatus(enum.StrEnum):
    """Whether a contact can receive marketing email, and if not, why."""

    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class Contact(Timestamps, Base):
    """A person Nurture emails; email is stored lower-cased, so it is unique case-insensitively."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(50))
    timezone: Mapped[str | None] = mapped_column(String(64))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    status: Mapped[ContactStatus] = mapped_column(
        Enum(ContactStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=ContactStatus.ACTIVE,
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # The company the contact works for; deals link contacts to accounts too.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)

    tags: Mapped[list["Tag"]] = relationship(
        secondary="contact_tags", lazy="selectin", order_by="Tag.name", viewonly=True
    )
    subscriptions: Mapped[list["ListSubscription"]] = relationship(
        lazy="selectin", order_by="ListSubscription.list_id", viewonly=True
    )


class Tag(Base):
    """A label on contacts; names are unique ignoring case."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Case-insensitive uniqueness without changing how the marketer wrote the name.
Index("uq_tags_name_lower", func.lower(Tag.name), unique=True)


class ContactTag(Base):
    """A tag on a contact, with when it was added."""

    __tablename__ = "contact_tags"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
