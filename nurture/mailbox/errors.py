"""How talking to a connected mailbox fails: transient (try later) or permanent (the user must act)."""

from typing import Literal

# What went wrong, precisely enough to name the setting at fault (see nurture.mailbox.check).
Failure = Literal[
    "host_not_found",  # the host name does not resolve
    "refused",  # nothing listens on that port
    "unreachable",  # no route to the host
    "timeout",  # no answer in time (connecting, or to a command)
    "no_greeting",  # connected, but the server said nothing: it may expect TLS first
    "tls",  # the TLS handshake failed, or STARTTLS is not offered
    "certificate",  # the server's certificate is not trusted for that host
    "dropped",  # the connection broke or the server spoke nonsense
    "unavailable",  # the server said to try later
    "login",  # the username, password or access token was refused
    "login_disabled",  # the server refuses to log in before TLS
    "mechanism",  # the server does not offer the login method (XOAUTH2, AUTH)
    "command",  # the server refused a command (a folder it does not have, a full mailbox)
]


class MailboxError(Exception):
    """Talking to a mailbox failed; `reason` is for people, `failure` for code."""

    def __init__(self, reason: str, *, failure: Failure) -> None:
        super().__init__(reason)
        self.reason = reason
        self.failure: Failure = failure


class MailboxUnavailable(MailboxError):
    """Transient: the server could not be reached or asked to wait; trying again later may work."""


class LoginRefused(MailboxError):
    """Permanent: the server refused the credentials or the way of logging in; the user must fix them."""


class MailboxRefused(MailboxError):
    """Permanent: the server refused a command (a missing folder, a full mailbox)."""
