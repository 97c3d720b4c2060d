"""Connected mailboxes: a user's own SMTP and IMAP account, for 1:1 email and its replies."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db.base import Base, BigId, JsonDict, Timestamps, UTCDateTime


class Mailbox(Timestamps, Base):
    """A user's connected mailbox; while it exists, the user's 1:1 email goes through it."""

    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    # Hosts, ports, security, login name, From address, Sent folder: everything but the secret.
    settings: Mapped[dict[str, Any]] = mapped_column(JsonDict)
    # The password or OAuth2 token, encrypted with a key derived from the secret key.
    secret_sealed: Mapped[str] = mapped_column(Text)
    # Where the sync of the inbox stands: replies are fetched by UID after `last_uid`, for as
    # long as the folder's UIDVALIDITY stays the same.
    uid_validity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
