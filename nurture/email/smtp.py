"""Sending through an SMTP server (a user's connected mailbox) with aiosmtplib."""

import asyncio
import hashlib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiosmtplib

from nurture.email.outgoing import NotSent, OutcomeUnknown, OutgoingEmail, ProviderError, Rejected

KEY_HEADER = "X-Nurture-Message-Key"


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to submit mail: implicit TLS (465) or STARTTLS (587), with a login."""

    hostname: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool | None = None  # None: upgrade when the server offers it
    timeout: float = 30.0


def message_id_for(email: OutgoingEmail) -> str:
    """The Message-ID of this key: the same on every attempt, so a resend threads as one email."""
    domain = parseaddr(email.from_email)[1].rpartition("@")[2] or "nurture.invalid"
    digest = hashlib.sha256(email.key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def build_mime(email: OutgoingEmail) -> EmailMessage:
    """A multipart/alternative MIME message for this email."""
    message = EmailMessage()
    message["From"] = email.from_email
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id_for(email)
    message[KEY_HEADER] = email.key
    for name, value in email.headers.items():
        message[name] = value
    message.set_content(email.text or "")
    if email.html:
        message.add_alternative(email.html, subtype="html")
    return message


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
        """Submit the email; returns its Message-ID."""
        try:
            message = build_mime(email)
        except ValueError as exc:
            # A header with a line break, an address the email package cannot write.
            raise Rejected(f"Cannot build the message: {exc}") from exc
        config = self._config
        try:
            # Activities run on worker threads with no event loop of their own.
            asyncio.run(
                aiosmtplib.send(
                    message,
                    hostname=config.hostname,
                    port=config.port,
                    username=config.username,
                    password=config.password,
                    use_tls=config.use_tls,
                    start_tls=config.start_tls,
                    timeout=config.timeout,
                )
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise Rejected(f"SMTP refused the recipient: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.code}: {exc.message}"
            if 500 <= exc.code < 600:
                raise Rejected(reason, code=exc.code) from exc
            raise NotSent(reason, code=exc.code) from exc
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError) as exc:
            raise NotSent(f"SMTP server unreachable: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise OutcomeUnknown(f"SMTP failed mid-send: {exc}") from exc
        return str(message["Message-ID"])

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
