"""What a provider is handed to send, and how providers say it went wrong."""

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Attachment:
    """A file sent with an email."""

    name: str
    content_type: str
    content: bytes
    # Set for an inline image the HTML shows as `cid:<content_id>`.
    content_id: str | None = None


@dataclass(frozen=True)
class OutgoingEmail:
    """One rendered email, ready for a provider; `key` is its message key."""

    key: str
    from_email: str
    to: str
    subject: str
    html: str | None
    text: str | None
    stream: str | None = None
    tag: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Only a connected mailbox (SMTP) sends Cc and Bcc; Bcc addresses never appear in headers.
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: str | None = None
    # The caller's metadata (Postmark's Metadata), beside Nurture's own key.
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()


class ProviderError(Exception):
    """A provider refused or failed a send; `reason` is for the operator."""

    def __init__(self, reason: str, *, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class Rejected(ProviderError):
    """Permanently refused (invalid request): sending again would fail the same way."""


class RecipientInactive(Rejected):
    """The provider will not send to this recipient; `why` is the provider's suppression reason
    ("HardBounce", "SpamComplaint", "ManualSuppression") when it could tell."""

    def __init__(self, reason: str, *, code: int | None = None, why: str | None = None) -> None:
        super().__init__(reason, code=code)
        self.why = why


class NotSent(ProviderError):
    """Transient, and the provider surely did not accept it (429, 503, connection refused)."""


class OutcomeUnknown(ProviderError):
    """Transient, and the provider may have accepted it (500, timeout, connection reset)."""


class EmailProvider(Protocol):
    """A way to send email that can also tell, after a failure, whether a key was sent."""

    name: str
    # Whether find_sent can find an earlier send; without it, an unknown outcome is not retried.
    can_search: bool
    # The longest one call (send or find_sent) can take: the lease an attempt holds covers two.
    max_call_seconds: float

    def send(self, email: OutgoingEmail) -> str:
        """Send and return the provider's message id, or raise a ProviderError."""
        ...

    def send_batch(self, emails: list[OutgoingEmail]) -> list[str | ProviderError]:
        """Send several emails in one call (at most 500), in order.

        Returns:
            For each email, in order, the provider's message id or the error for that email alone.

        Raises:
            ProviderError: the whole call failed; it applies to every email.
        """
        ...

    def find_sent(self, email: OutgoingEmail) -> str | None:
        """The provider's id of an earlier send of this key, None if it has none, or raise NotSent."""
        ...
