"""Mailing lists and contacts' subscriptions to them, with consent evidence."""

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db.base import Base, BigId, Timestamps, UTCDateTime


class SubscriptionStatus(enum.StrEnum):
    """A contact's standing on one list; only `subscribed` receives campaigns."""

    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    PENDING = "pending"


class MailingList(Timestamps, Base):
    """A list contacts subscribe to (called "list" in the API)."""

    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)


# Like tags, list names are unique ignoring case: "Newsletter" and "newsletter" are one list.
Index("uq_lists_name_lower", func.lower(MailingList.name), unique=True)


class ListSubscription(Timestamps, Base):
    """One contact on one list; consent source, time and IP are the evidence a regulator asks for."""

    __tablename__ = "list_subscriptions"
    __table_args__ = (UniqueConstraint("list_id", "contact_id", name="uq_list_subscriptions_list_contact"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    status: Mapped[SubscriptionStatus] = mapped_column(
        Enum(SubscriptionStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    consent_source: Mapped[str | None] = mapped_column(String(200))
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_ip: Mapped[str | None] = mapped_column(String(45))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
