"""Attachments waiting for their message to be sent: the files travel here, never through
workflow history (Temporal payloads are capped at a few MB)."""

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db.base import Base, BigId, UTCDateTime, utcnow


class StagedAttachment(Base):
    """One file of a message key, staged by the API before the send starts; dropped once the key
    is final (the message keeps each file's name, type and size)."""

    __tablename__ = "staged_attachments"
    __table_args__ = (UniqueConstraint("message_key", "position", name="uq_staged_attachments_key_position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The message key, not the message's id: the ledger row is written when the send starts.
    message_key: Mapped[str] = mapped_column(String(255), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    content_id: Mapped[str | None] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
