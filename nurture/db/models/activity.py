"""The activity stream: typed, timestamped events per contact, appended and never edited."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db.base import Base, BigId, JsonDict, UTCDateTime, utcnow


class ActivityEvent(Base):
    """One thing that happened to a contact (created, tagged, emailed, ...)."""

    __tablename__ = "activity_events"
    __table_args__ = (Index("ix_activity_events_contact_id_id", "contact_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
