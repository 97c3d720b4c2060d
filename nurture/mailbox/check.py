"""Checking a mailbox before it is saved: log in to SMTP and IMAP, and name the setting at fault."""

import asyncio
import socket
import ssl
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import aiosmtplib

from nurture.email.smtp import open_smtp
from nurture.mailbox.config import MailboxConfig
from nurture.mailbox.errors import Failure, MailboxError
from nurture.mailbox.fetch import examine
from nurture.mailbox.folders import find_sent_folder
from nurture.mailbox.imap import open_imap

DEFAULT_TIMEOUT = 15.0

# Which MailboxConfig field (after "imap_"/"smtp_" for the first ones) to name for a failure.
_FIELDS: dict[Failure, str] = {
    "host_not_found": "host",
    "unreachable": "host",
    "timeout": "host",
    "certificate": "host",
    "dropped": "host",
    "unavailable": "host",
    "command": "host",
    "refused": "port",
    "no_greeting": "security",
    "tls": "security",
    "login_disabled": "security",
    "login": "secret",
    "mechanism": "auth",
}


@dataclass(frozen=True)
class MailboxProblem:
    """One thing wrong: the `MailboxConfig` field to fix, and why."""

    field: str
    message: str


class MailboxCheckFailed(Exception):
    """The mailbox cannot be used as configured; `problems` names each field at fault."""

    def __init__(self, problems: Sequence[MailboxProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{problem.field}: {problem.message}" for problem in self.problems))

    def errors(self) -> list[dict[str, Any]]:
        """The problems shaped like pydantic's `ValidationError.errors()`, for a 422."""
        return [
            {"type": "mailbox_check", "loc": (problem.field,), "msg": problem.message}
            for problem in self.problems
        ]


def check_mailbox(config: MailboxConfig, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Log in to the SMTP server (then QUIT, sending nothing) and to IMAP (open INBOX, find Sent).

    Both are tried at once, and every problem found is reported. Blocking: call it from a
    sync route or a worker thread, not inside an event loop.

    Args:
        config: the mailbox to check.
        timeout: seconds for each connection step.

    Returns:
        The Sent folder's name (the configured one, or the one found), which the caller may
        store as `sent_folder` so sends skip looking for it.

    Raises:
        MailboxCheckFailed: with a problem for each field at fault, e.g. `imap_port`:
            "connection refused by imap.example.com:993", `secret`: "IMAP login refused ...".
    """
    smtp_problems, (imap_problems, sent_folder) = asyncio.run(_check_both(config, timeout))
    problems = [*smtp_problems, *imap_problems]
    if problems:
        raise MailboxCheckFailed(problems)
    return sent_folder


async def _check_both(
    config: MailboxConfig, timeout: float
) -> tuple[list[MailboxProblem], tuple[list[MailboxProblem], str]]:
    return await asyncio.gather(_check_smtp(config, timeout), asyncio.to_thread(_check_imap, config, timeout))


def _check_imap(config: MailboxConfig, timeout: float) -> tuple[list[MailboxProblem], str]:
    try:
        with open_imap(config, timeout=timeout) as imap:
            examine(imap, "INBOX")
            sent_folder, exists = find_sent_folder(imap, configured=config.sent_folder)
    except MailboxError as exc:
        return [_imap_problem(exc)], ""
    if config.sent_folder is not None and not exists:
        return [MailboxProblem("sent_folder", f"the IMAP server has no folder named {sent_folder!r}")], ""
    return [], sent_folder


def _imap_problem(exc: MailboxError) -> MailboxProblem:
    field = _FIELDS[exc.failure]
    return MailboxProblem(field if field in ("secret", "auth") else f"imap_{field}", exc.reason)


async def _check_smtp(config: MailboxConfig, timeout: float) -> list[MailboxProblem]:
    smtp = config.smtp_config(timeout=timeout)
    where = f"{config.smtp_host}:{config.smtp_port}"
    try:
        client = await open_smtp(smtp)
    except aiosmtplib.SMTPAuthenticationError as exc:
        what = "access token" if config.auth == "oauth2" else "username or password"
        return [MailboxProblem("secret", f"SMTP login refused (check the {what}): {exc.code} {exc.message}")]
    except aiosmtplib.SMTPNotSupported as exc:
        if config.auth == "oauth2" and "XOAUTH2" in str(exc):
            return [MailboxProblem("auth", f"{where} does not offer OAuth2 login (XOAUTH2)")]
        if config.smtp_security == "none":
            return [
                MailboxProblem(
                    "smtp_security", f"{where} offers no login without TLS; choose starttls or ssl"
                )
            ]
        return [MailboxProblem("smtp_host", f"{where} offers no login (AUTH)")]
    except aiosmtplib.SMTPConnectTimeoutError as exc:
        # Only its message tells a silent server (TLS expected?) from a host that never answered.
        if "ready message" in str(exc):
            hint = "" if config.smtp_security == "ssl" else "; it may expect SSL/TLS from the start"
            return [
                MailboxProblem("smtp_security", f"{where} accepted the connection but sent no greeting{hint}")
            ]
        return [MailboxProblem("smtp_host", f"no answer from {where} within {timeout:g} s")]
    except aiosmtplib.SMTPResponseException as exc:
        return [MailboxProblem("smtp_host", f"the SMTP server at {where} answered {exc.code} {exc.message}")]
    except (aiosmtplib.SMTPException, OSError) as exc:
        return [_smtp_connect_problem(exc, config, where=where)]
    with suppress(aiosmtplib.SMTPException, OSError):
        await client.quit()  # it let us in: how the goodbye goes does not matter
    client.close()
    return []


def _smtp_connect_problem(exc: BaseException, config: MailboxConfig, *, where: str) -> MailboxProblem:
    # aiosmtplib's connection errors are OSErrors too; what failed is their cause.
    cause = exc.__cause__ if isinstance(exc, aiosmtplib.SMTPException) else exc
    if isinstance(cause, ssl.SSLCertVerificationError):
        return MailboxProblem(
            "smtp_host", f"the certificate of {where} is not trusted: {cause.verify_message}"
        )
    if isinstance(cause, ssl.SSLError):
        return MailboxProblem(
            "smtp_security",
            f"TLS handshake with {where} failed ({cause}); the port may be for STARTTLS or no TLS",
        )
    if isinstance(cause, socket.gaierror):
        return MailboxProblem("smtp_host", f"host not found: {config.smtp_host}")
    if isinstance(cause, ConnectionRefusedError):
        return MailboxProblem("smtp_port", f"connection refused by {where}")
    if "STARTTLS extension not supported" in str(exc):
        return MailboxProblem("smtp_security", f"{where} does not offer STARTTLS")
    return MailboxProblem("smtp_host", f"cannot talk to {where}: {exc}")
