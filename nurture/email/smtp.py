"""Sending through an SMTP server (a user's connected mailbox) with aiosmtplib."""

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formatdate, getaddresses, parseaddr

import aiosmtplib

from nurture.email.outgoing import NotSent, OutcomeUnknown, OutgoingEmail, ProviderError, Rejected

KEY_HEADER = "X-Nurture-Message-Key"


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to submit mail: implicit TLS (465) or STARTTLS (587), with a login.

    Log in with `password`, or with an OAuth2 access token in `oauth_token` (SASL XOAUTH2, as
    Gmail and Microsoft 365 take it); `username` is needed for either.
    """

    hostname: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool | None = None  # None: upgrade when the server offers it
    timeout: float = 30.0
    oauth_token: str | None = None

    def __post_init__(self) -> None:
        if self.password is not None and self.oauth_token is not None:
            raise ValueError("Give a password or an OAuth2 token, not both.")
        if self.oauth_token is not None and not self.username:
            raise ValueError("An OAuth2 login needs the username.")


def message_id_for(email: OutgoingEmail) -> str:
    """The Message-ID of this key: the same on every attempt, so a resend threads as one email."""
    domain = parseaddr(email.from_email)[1].rpartition("@")[2] or "nurture.invalid"
    digest = hashlib.sha256(email.key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def build_mime(email: OutgoingEmail, *, date: datetime | None = None, with_bcc: bool = False) -> EmailMessage:
    """A multipart/alternative MIME message for this email.

    Args:
        email: the email.
        date: its Date header (an aware datetime); now when None.
        with_bcc: write the Bcc header too. Only for the copy kept in the sender's Sent folder,
            where mail clients show it; the message sent must never carry it.
    """
    message = EmailMessage()
    message["From"] = email.from_email
    message["To"] = email.to
    if email.cc:
        message["Cc"] = ", ".join(email.cc)
    if with_bcc and email.bcc:
        message["Bcc"] = ", ".join(email.bcc)
    if email.reply_to:
        message["Reply-To"] = email.reply_to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(date) if date is not None else formatdate(localtime=False)
    message["Message-ID"] = message_id_for(email)
    message[KEY_HEADER] = email.key
    for name, value in email.headers.items():
        message[name] = value
    message.set_content(email.text or "")
    if email.html:
        message.add_alternative(email.html, subtype="html")
    return message


def envelope_recipients(email: OutgoingEmail) -> list[str]:
    """The addresses for RCPT TO: To, Cc and Bcc, each once, in that order."""
    seen: set[str] = set()
    recipients: list[str] = []
    for _, address in getaddresses([email.to, *email.cc, *email.bcc]):
        if address and address.lower() not in seen:
            seen.add(address.lower())
            recipients.append(address)
    return recipients


async def open_smtp(config: SmtpConfig) -> aiosmtplib.SMTP:
    """Connect (with TLS as configured) and log in; the caller sends, then quits.

    Raises:
        aiosmtplib.SMTPException: as aiosmtplib raises it; a server that offers no AUTH (or no
            XOAUTH2) when a login is configured raises `SMTPNotSupported`.
    """
    client = aiosmtplib.SMTP(
        hostname=config.hostname,
        port=config.port,
        use_tls=config.use_tls,
        start_tls=config.start_tls,
        timeout=config.timeout,
    )
    await client.connect()
    try:
        await _login(client, config)
    except BaseException:
        client.close()
        raise
    return client


async def _login(client: aiosmtplib.SMTP, config: SmtpConfig) -> None:
    if config.username is None:
        return
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()
    if config.oauth_token is not None:
        if "xoauth2" not in client.server_auth_methods:
            raise aiosmtplib.SMTPNotSupported("The SMTP server does not offer OAuth2 login (XOAUTH2).")
        await client.auth_xoauth2(config.username, config.oauth_token)
        return
    if not client.supports_extension("auth"):
        # aiosmtplib would say so too, as a plain SMTPException; this one is typed.
        raise aiosmtplib.SMTPNotSupported("The SMTP server offers no login (AUTH) on this connection.")
    await client.login(config.username, config.password or "")


class SmtpProvider:
    """One SMTP account. Its Message-ID is made from the key, so a reply threads to the send."""

    name = "smtp"
    # Nothing to search: after an unknown outcome the pipeline records a failure, not a resend.
    can_search = False

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        # aiosmtplib's timeout applies to each step: connect, login, and the message itself.
        self.max_call_seconds = 3 * config.timeout

    def send(self, email: OutgoingEmail) -> str:
        """Submit the email to To, Cc and Bcc (Bcc only in the envelope); returns its Message-ID."""
        try:
            message = build_mime(email)
        except ValueError as exc:
            # A header with a line break, an address the email package cannot write.
            raise Rejected(f"Cannot build the message: {exc}") from exc
        sender = parseaddr(email.from_email)[1]
        recipients = envelope_recipients(email)
        if not sender or not recipients:
            raise Rejected("The message has no sender or no recipient address.")
        # Activities run on worker threads with no event loop of their own.
        asyncio.run(self._submit(message, sender=sender, recipients=recipients))
        return str(message["Message-ID"])

    async def _submit(self, message: EmailMessage, *, sender: str, recipients: list[str]) -> None:
        try:
            client = await open_smtp(self._config)
        except aiosmtplib.SMTPResponseException as exc:
            # Refused before the message was offered: a 5xx (a refused login) will not change.
            raise _response_error(exc) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            raise Rejected(f"SMTP login impossible: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise NotSent(f"SMTP server unreachable: {exc}") from exc
        try:
            await client.send_message(message, sender=sender, recipients=recipients)
            # Accepted: a failed goodbye changes nothing.
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise Rejected(f"SMTP refused the recipient: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _response_error(exc) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            # Raised before MAIL FROM (an address that needs SMTPUTF8 the server lacks).
            raise Rejected(f"SMTP cannot send this message: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise OutcomeUnknown(f"SMTP failed mid-send: {exc}") from exc
        finally:
            client.close()

    def send_batch(self, emails: list[OutgoingEmail]) -> list[str | ProviderError]:
        """Submit the emails one by one (SMTP has no batch); after a transient failure, try no more."""
        results: list[str | ProviderError] = []
        stopped: ProviderError | None = None
        for email in emails:
            if stopped is not None:
                results.append(NotSent(f"not tried after an earlier failure in the batch: {stopped.reason}"))
                continue
            try:
                results.append(self.send(email))
            except Rejected as exc:
                results.append(exc)
            except ProviderError as exc:
                # The server is down or failing: the next ones would wait out the same timeouts.
                results.append(exc)
                stopped = exc
        return results

    def find_sent(self, email: OutgoingEmail) -> str | None:
        """SMTP keeps no searchable record of what it accepted."""
        del email
        return None


def _response_error(exc: aiosmtplib.SMTPResponseException) -> ProviderError:
    reason = f"SMTP {exc.code}: {exc.message}"
    if 500 <= exc.code < 600:
        return Rejected(reason, code=exc.code)
    return NotSent(reason, code=exc.code)
