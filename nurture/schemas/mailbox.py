"""What a sync of a connected mailbox reports to its workflow (no I/O imports)."""

from typing import Literal

from pydantic import BaseModel, Field

from nurture.automations.runs import ContactDispatch


class SyncResult(BaseModel):
    """What one sync of a mailbox did."""

    # False once the mailbox is disconnected: its sync ends.
    connected: bool
    fetched: int = 0
    recorded: int = 0
    # More new mail waits beyond this sync's batch: the next follows at once.
    more: bool = False
    # Why the mailbox could not be read (a refused login): it stays until the user reconnects.
    error: str | None = None
    # The automations replies recorded by this sync start ("replied to a 1:1 email"), per contact.
    dispatches: list[ContactDispatch] = Field(default_factory=list)


class OwnerSender(BaseModel):
    """Who an automation's 1:1 email is from (the owner), how it goes, and what it concerns."""

    user_id: int
    from_email: str
    via_mailbox: bool
    deal_id: int | None = None
    account_id: int | None = None


class OwnerFound(BaseModel):
    """The owner an automation's 1:1 email is from, or None when the contact (or deal) has none."""

    sender: OwnerSender | None


class OwnerLookup(BaseModel):
    """The contact whose owner (or whose latest deal's owner) an automation's 1:1 email is from."""

    contact_id: int
    owner_of: Literal["contact", "deal"]
