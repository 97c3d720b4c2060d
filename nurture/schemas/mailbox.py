"""What a sync of a connected mailbox reports to its workflow (no I/O imports)."""

from pydantic import BaseModel


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
