"""Campaigns: one email to every opted-in contact of an audience, and the recipients fixed for it."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db.base import Base, BigId, JsonDict, Timestamps, UTCDateTime, value_enum


class CampaignStatus(enum.StrEnum):
    """Draft until sent or scheduled; sending (or paused) while its workflow runs; then sent or cancelled."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class RecipientStatus(enum.StrEnum):
    """What became of one recipient: waiting for its batch, or its message's outcome."""

    PENDING = "pending"
    SENT = "sent"
    SUPPRESSED = "suppressed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Campaign(Timestamps, Base):
    """A one-off send of a marketing template to an audience (lists, filters, exclusions)."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="RESTRICT"))
    # settings.email_from when not given.
    from_email: Mapped[str | None] = mapped_column(String(400))
    # {"lists": [...], "exclude_lists": [...], "tags": [...], "exclude_tags": [...], "conditions": [...]}
    audience: Mapped[dict[str, Any]] = mapped_column(JsonDict)
    status: Mapped[CampaignStatus] = mapped_column(value_enum(CampaignStatus), default=CampaignStatus.DRAFT)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Send at scheduled_at's wall-clock time in each contact's time zone (the zone of UTC where unset).
    in_contact_timezone: Mapped[bool] = mapped_column(Boolean, default=False)
    # The IANA zone scheduled_at's wall-clock time is read in, and the zone of contacts without a
    # valid one, when sent in each contact's time zone; UTC when None.
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Emails per minute at most; None sends as fast as the workers can.
    send_rate: Mapped[int | None] = mapped_column(Integer)
    # {"variants": [{"subject"?, "template_id"?, "from_email"?}], "sample_percent", "wait", "metric"}
    ab_test: Mapped[dict[str, Any] | None] = mapped_column(JsonDict)
    # The A/B variant chosen for the rest of the audience, by its index.
    winner: Mapped[int | None] = mapped_column(Integer)
    # How many recipients the audience had when it was fixed, at the start of sending.
    recipients: Mapped[int | None] = mapped_column(Integer)
    audience_fixed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    workflow_id: Mapped[str | None] = mapped_column(String(255))
    # Why it was cancelled or stopped, for the operator.
    reason: Mapped[str | None] = mapped_column(Text)


class CampaignRecipient(Base):
    """One contact the campaign goes to, at a fixed position: batches are ranges of positions."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        Index("ix_campaign_recipients_campaign_contact", "campaign_id", "contact_id", unique=True),
        Index("ix_campaign_recipients_message_id", "message_id"),
    )

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # The audience list it is sent for: its unsubscribe link leaves this list.
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="SET NULL"))
    # The A/B variant it gets; None until the winner is known (or without a test).
    variant: Mapped[int | None] = mapped_column(Integer)
    in_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    # When it is due, for sends in each contact's time zone; positions follow this order.
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[RecipientStatus] = mapped_column(
        value_enum(RecipientStatus), default=RecipientStatus.PENDING
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)
