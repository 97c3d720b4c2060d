"""The suppression list: addresses Nurture will not email, whatever a run asks."""

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db.base import Base, BigId, UTCDateTime, utcnow


class SuppressionReason(enum.StrEnum):
    """Why an address is suppressed; a spam complaint blocks marketing email only."""

    HARD_BOUNCE = "hard_bounce"
    SPAM_COMPLAINT = "spam_complaint"
    MANUAL = "manual"


class Suppression(Base):
    """One suppressed address (stored lower-cased, one row per address)."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[SuppressionReason] = mapped_column(
        Enum(SuppressionReason, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    # Where it came from: "api", "webhook", "provider" (a 406 on send), ...
    source: Mapped[str] = mapped_column(String(50))
    details: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reactivation(Base):
    """Postmark's latest reactivation of an address for a reason, kept so that a bounce or
    complaint from before it, handled after it (Postmark retries webhooks for hours), does not
    suppress the address again."""

    __tablename__ = "reactivations"
    __table_args__ = (UniqueConstraint("email", "reason", name="uq_reactivations_email_reason"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    reason: Mapped[SuppressionReason] = mapped_column(
        Enum(SuppressionReason, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
