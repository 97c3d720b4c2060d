"""The send ledger: one row per message key with the links in it, and what happened to it after."""

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nurture.db.base import Base, BigId, JsonDict, Timestamps, UTCDateTime, utcnow
from nurture.schemas.email import EngagementType, MessageStatus, TemplateKind


class Message(Timestamps, Base):
    """One email, keyed by its message key: the ledger that makes every send happen at most once."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[TemplateKind] = mapped_column(
        Enum(TemplateKind, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    # "postmark" or "smtp"; the stream is Postmark's message stream.
    provider: Mapped[str] = mapped_column(String(20))
    stream: Mapped[str | None] = mapped_column(String(100))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
    # The list a marketing email was sent for: its unsubscribe link leaves this list.
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="SET NULL"))
    to_email: Mapped[str] = mapped_column(String(320))
    from_email: Mapped[str] = mapped_column(String(400))
    subject: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    # The targets of its tracked links, by position: a click token names only the position, so
    # it redirects nowhere else. Messages from before this column keep theirs in MessageLink.
    link_urls: Mapped[list[str] | None] = mapped_column(JsonDict)
    tag: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[MessageStatus] = mapped_column(
        Enum(MessageStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    # Why it was suppressed or failed, in words an operator can act on.
    reason: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    # The workflow that sent it and waits on its engagement (opens, clicks, replies).
    workflow_id: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # While `sending`: the attempt that may call the provider (None: none), and until when. No
    # other attempt touches the provider before `lease_until`, which also holds a key back after
    # an unknown outcome until the provider's search can be trusted to show the send.
    lease_owner: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An attempt ended without knowing whether the provider accepted the email (a timeout, a
    # 500, a crash): before any further send the provider must be asked.
    maybe_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    # Kept with the email, so that a resend carries the very same ones.
    reply_to: Mapped[str | None] = mapped_column(String(400))
    cc: Mapped[list[str] | None] = mapped_column(JsonDict)
    bcc: Mapped[list[str] | None] = mapped_column(JsonDict)
    # Each file's name, content_type, size (and content_id); the files themselves are staged
    # (StagedAttachment) and dropped once the message is final.
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonDict)
    # The caller's metadata, handed to Postmark beside Nurture's own key.
    custom_metadata: Mapped[dict[str, str] | None] = mapped_column(JsonDict)
    # SHA-256 of the API request that made it (Idempotency-Key): the same key with another
    # request is refused instead of answered with this message.
    request_digest: Mapped[str | None] = mapped_column(String(64))
    # A 1:1 email: the user it is from, and the deal and account it concerns.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    # Loaded when read: most work on a message (marking it sent, a delivery, a click) needs none.
    body: Mapped["MessageBody | None"] = relationship(cascade="all, delete-orphan", passive_deletes=True)

    @property
    def html_body(self) -> str | None:
        """The HTML as sent (tracked links and pixel in), or None for a text-only email."""
        return self.body.html_body if self.body is not None else None

    @property
    def text_body(self) -> str | None:
        """The plain text as sent."""
        return self.body.text_body if self.body is not None else None


class MessageBody(Base):
    """A message's bodies, rendered once when its key is reserved: a resend sends the very same email.

    A row of their own, written once: SQLite rewrites a whole row when any column changes, and
    a newsletter's bodies are ~10 KB that marking the key sent, a delivery or a bounce would
    otherwise copy each time.
    """

    __tablename__ = "message_bodies"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    html_body: Mapped[str | None] = mapped_column(Text)
    text_body: Mapped[str | None] = mapped_column(Text)


class MessageLink(Base):
    """A link in an email sent before messages kept their links (`Message.link_urls`)."""

    __tablename__ = "message_links"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)


class MessageEvent(Base):
    """One engagement event on a message; `dedup_key` makes a repeated webhook a no-op."""

    __tablename__ = "message_events"
    __table_args__ = (Index("ix_message_events_message_id_type", "message_id", "type"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    type: Mapped[EngagementType] = mapped_column(
        Enum(EngagementType, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Opens and clicks that look machine-made (privacy proxies, link scanners) are kept, but flagged.
    machine: Mapped[bool] = mapped_column(Boolean, default=False)
    machine_reason: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict[str, Any]] = mapped_column(JsonDict, default=dict)
    dedup_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
