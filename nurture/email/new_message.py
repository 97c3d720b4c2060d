"""A new key's ledger row before it is written: plain attributes, inserted with its batch's in one statement.

Building an ORM `Message` for each of a batch's 500 new keys, then flushing them, cost a tenth of
a campaign's sending time: every attribute set is instrumented, every row collected again at
flush. A `NewMessage` has the same attribute names as `Message`, so composing, closing and
sending read and change either alike; `ledger.Changes.add` keeps it, and the changes write every
new row in one INSERT when they end, after any last change (a key whose files are gone fails).
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nurture.db.models import Message
from nurture.schemas.email import MessageStatus, TemplateKind


@dataclass(eq=False)
class NewMessage:
    """A `messages` row for a new key; each attribute is the column of the same name."""

    key: str
    kind: TemplateKind
    provider: str
    stream: str | None
    contact_id: int | None
    template_id: int | None
    list_id: int | None
    to_email: str
    from_email: str
    reply_to: str | None
    tag: str | None
    workflow_id: str | None
    custom_metadata: dict[str, str] | None
    attachments: list[dict[str, Any]] | None
    request_digest: str | None
    user_id: int | None
    deal_id: int | None
    account_id: int | None
    cc: list[str] | None
    bcc: list[str] | None
    # Taken when the key is reserved (`reserve.next_ids`), before it is written.
    id: int | None = None
    status: MessageStatus = MessageStatus.SENDING
    reason: str | None = None
    attempts: int = 0
    maybe_sent: bool = False
    lease_owner: str | None = None
    lease_until: datetime | None = None
    # The email, once composed; its bodies go to `message_bodies`.
    subject: str = ""
    html_body: str | None = None
    text_body: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    link_urls: list[str] | None = None
    # Never set on a new key: here so that a closed one reads as a Message does.
    provider_message_id: str | None = None

    def row(self) -> dict[str, Any]:
        """The `messages` column values to insert (the timestamps are the table's defaults)."""
        if self.id is None:
            raise ValueError(f"{self.key} has no id yet: it is reserved first")
        row = dict(vars(self))
        del row["html_body"], row["text_body"]
        return row

    def body_row(self) -> dict[str, Any] | None:
        """The `message_bodies` row to insert, or None for a key closed before it was composed."""
        if self.html_body is None and self.text_body is None:
            return None
        return {"message_id": self.id, "html_body": self.html_body, "text_body": self.text_body}


# A ledger row already written, or a new key's about to be.
LedgerRow = Message | NewMessage
