"""Opening a connected mailbox over IMAP: connect with TLS as configured, log in, and read failures.

Blocking, on the stdlib's imaplib: callers are sync activities on worker threads. Every socket
operation has a timeout.
"""

import imaplib
import re
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

from nurture.mailbox.config import MailboxConfig
from nurture.mailbox.errors import LoginRefused, MailboxError, MailboxRefused, MailboxUnavailable

DEFAULT_TIMEOUT = 30.0

# Response codes (RFC 5530) that mean "not now" rather than "no".
_TRANSIENT_CODES = frozenset({"UNAVAILABLE", "INUSE", "SERVERBUG", "LIMIT"})
_CODE = re.compile(r"\[([A-Z-]+)")


class _Imap4(imaplib.IMAP4):
    """imaplib's client, connecting with or without TLS and telling why a connection failed."""

    def __init__(self, host: str, port: int, *, timeout: float, tls: ssl.SSLContext | None) -> None:
        self._tls = tls
        try:
            super().__init__(host, port, timeout=timeout)
        except MailboxError:
            raise
        except TimeoutError as exc:
            raise MailboxUnavailable(
                f"{host}:{port} accepted the connection but sent no greeting within {timeout:g} s"
                + ("" if tls else "; it may expect SSL/TLS from the start"),
                failure="no_greeting",
            ) from exc
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailboxUnavailable(
                f"{host}:{port} did not greet as an IMAP server: {_text(exc)}", failure="no_greeting"
            ) from exc

    def _create_socket(self, timeout: float | None) -> socket.socket:
        where = f"{self.host}:{self.port}"
        try:
            sock = socket.create_connection((self.host, self.port), timeout)
        except socket.gaierror as exc:
            raise MailboxUnavailable(f"host not found: {self.host}", failure="host_not_found") from exc
        except ConnectionRefusedError as exc:
            raise MailboxUnavailable(f"connection refused by {where}", failure="refused") from exc
        except TimeoutError as exc:
            raise MailboxUnavailable(
                f"no answer from {where} within {timeout:g} s", failure="timeout"
            ) from exc
        except OSError as exc:
            raise MailboxUnavailable(
                f"cannot connect to {where}: {exc.strerror or exc}", failure="unreachable"
            ) from exc
        if self._tls is None:
            return sock
        try:
            return _wrap(self._tls, sock, host=self.host, where=where)
        except BaseException:
            sock.close()
            raise


def _wrap(context: ssl.SSLContext, sock: socket.socket, *, host: str, where: str) -> ssl.SSLSocket:
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except (ssl.SSLError, OSError) as exc:
        raise _tls_failure(exc, where=where) from exc


def _tls_failure(exc: OSError, *, where: str) -> MailboxUnavailable:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailboxUnavailable(
            f"the certificate of {where} is not trusted: {exc.verify_message}", failure="certificate"
        )
    if isinstance(exc, TimeoutError):
        return MailboxUnavailable(f"no TLS handshake from {where}", failure="tls")
    return MailboxUnavailable(
        f"TLS handshake with {where} failed ({exc}); the port may be for STARTTLS or no TLS",
        failure="tls",
    )


@contextmanager
def open_imap(config: MailboxConfig, *, timeout: float = DEFAULT_TIMEOUT) -> Iterator[imaplib.IMAP4]:
    """A logged-in IMAP connection to the mailbox, logged out at the end.

    Args:
        config: the mailbox.
        timeout: seconds for connecting and for each read or write on the socket.

    Raises:
        MailboxUnavailable: cannot connect, no TLS, a timeout or a dropped connection (transient).
        LoginRefused: the credentials or the way of logging in were refused (permanent).
        MailboxRefused: the server refused a command inside the block (permanent).
    """
    context = ssl.create_default_context()
    imap = _Imap4(
        config.imap_host,
        config.imap_port,
        timeout=timeout,
        tls=context if config.imap_security == "ssl" else None,
    )
    where = f"{config.imap_host}:{config.imap_port}"
    try:
        with _translate_errors(where):
            if config.imap_security == "starttls":
                _starttls(imap, context, where=where)
            _login(imap, config)
            yield imap
    except BaseException:
        # After a failure the connection may be stuck: do not wait out another timeout on LOGOUT.
        with suppress(OSError):
            imap.shutdown()
        raise
    with suppress(imaplib.IMAP4.error, OSError):
        imap.logout()


@contextmanager
def _translate_errors(where: str) -> Iterator[None]:
    # Around the caller's block too: imaplib's and the socket's exceptions become MailboxErrors.
    try:
        yield
    except MailboxError:
        raise
    except TimeoutError as exc:
        raise MailboxUnavailable(f"{where} did not answer in time", failure="timeout") from exc
    except (imaplib.IMAP4.abort, OSError) as exc:
        raise MailboxUnavailable(f"the connection to {where} broke: {_text(exc)}", failure="dropped") from exc
    except imaplib.IMAP4.error as exc:
        raise command_error(_text(exc)) from exc


def command_error(text: str) -> MailboxError:
    """The error for a NO or BAD answer: transient when its response code says to wait."""
    code = _CODE.search(text)
    if code and code.group(1) in _TRANSIENT_CODES:
        return MailboxUnavailable(f"the IMAP server is unavailable: {text}", failure="unavailable")
    return MailboxRefused(f"the IMAP server refused: {text}", failure="command")


def check_ok(typ: str, data: Sequence[object], *, doing: str) -> None:
    """Raise the MailboxError for a command that did not answer OK."""
    if typ != "OK":
        raise command_error(f"{doing}: {response_text(data)}")


def _starttls(imap: imaplib.IMAP4, context: ssl.SSLContext, *, where: str) -> None:
    if "STARTTLS" not in imap.capabilities:
        raise MailboxUnavailable(f"{where} does not offer STARTTLS", failure="tls")
    try:
        # With this context (imaplib's default one checks no certificate).
        imap.starttls(context)
    except (ssl.SSLError, OSError) as exc:
        raise _tls_failure(exc, where=where) from exc
    except imaplib.IMAP4.error as exc:
        raise MailboxUnavailable(f"{where} refused STARTTLS: {_text(exc)}", failure="tls") from exc


def _login(imap: imaplib.IMAP4, config: MailboxConfig) -> None:
    username, secret = config.username, config.secret_value()
    try:
        if config.auth == "oauth2":
            if "AUTH=XOAUTH2" not in imap.capabilities:
                raise LoginRefused(
                    "the IMAP server does not offer OAuth2 login (XOAUTH2)", failure="mechanism"
                )
            imap.authenticate("XOAUTH2", _xoauth2(username, secret))
        elif "LOGINDISABLED" in imap.capabilities:
            raise LoginRefused("the IMAP server refuses to log in without TLS", failure="login_disabled")
        elif username.isascii() and secret.isascii():
            imap.login(_quote(username), secret)
        else:
            # LOGIN sends ASCII only; SASL PLAIN carries UTF-8.
            plain = f"\0{username}\0{secret}".encode()
            imap.authenticate("PLAIN", lambda _challenge: plain)
    except imaplib.IMAP4.abort:
        raise  # a broken connection, not a refusal
    except imaplib.IMAP4.error as exc:
        error = command_error(_text(exc))
        if isinstance(error, MailboxUnavailable):
            raise error from exc
        what = "access token" if config.auth == "oauth2" else "username or password"
        raise LoginRefused(f"IMAP login refused (check the {what}): {_text(exc)}", failure="login") from exc


def _xoauth2(username: str, token: str) -> "_Responses":
    return _Responses(f"user={username}\x01auth=Bearer {token}\x01\x01".encode())


class _Responses:
    """The XOAUTH2 answer, once: a refused token draws a challenge (JSON details) that must be
    answered empty, or the server waits for the rest of a response that never comes."""

    def __init__(self, first: bytes) -> None:
        self._first: bytes | None = first

    def __call__(self, challenge: bytes) -> bytes:
        first, self._first = self._first, None
        return first if first is not None else b""


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    if text.startswith(("b'", 'b"')):
        # imaplib puts the server's bytes into the message as their repr.
        text = text[2:-1]
    return text or exc.__class__.__name__


def response_text(data: Sequence[object]) -> str:
    """The text of a command's last response line."""
    last = data[-1] if data else b""
    if isinstance(last, tuple):
        last = last[0]
    return last.decode("utf-8", "replace") if isinstance(last, bytes) else str(last)
