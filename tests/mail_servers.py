"""Real mail servers for tests: IMAP (pymap's in-memory backend) and SMTP (aiosmtpd), on free ports.

Import the fixtures by name into a test module or conftest (`from tests.mail_servers import
imap_server, smtp_server`), or start the servers yourself with `ImapServer.running()` and
`SmtpServer.running()`. Each test gets its own IMAP user from `imap_server.add_user()`, so one
server serves a whole session.
"""

import asyncio
import base64
import datetime
import ipaddress
import re
import secrets
import socket
import ssl
import threading
from argparse import Namespace
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.dict import Config, DictBackend, FilterSet, Identity, Login
from pymap.backend.dict.mailbox import MailboxSet
from pymap.exceptions import InvalidAuth
from pymap.imap import IMAPServer
from pymap.listtree import ListEntry, ListTree
from pymap.user import Passwords, UserMetadata
from pysasl import SASLAuth
from pysasl.creds.external import ExternalCredentials, ExternalVerificationRequired
from pysasl.creds.server import ServerCredentials
from pysasl.hashing import BuiltinHash

HOST = "127.0.0.1"
# How a server speaks TLS: not at all, after STARTTLS, or from the first byte.
Tls = Literal["none", "starttls", "ssl"]


def free_port() -> int:
    """A TCP port nothing listens on (right now) on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


# --- TLS ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificate(directory: Path) -> Certificate:
    """Write a self-signed certificate; clients trust it with `SSL_CERT_FILE=<cert_file>`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Certificate(cert_file, key_file)


# --- IMAP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImapUser:
    """A mailbox on the IMAP server: log in with `password`, or with `token` over XOAUTH2."""

    name: str
    password: str
    token: str


@dataclass(frozen=True)
class _SpecialUseEntry(ListEntry):
    """A LIST entry with a special-use attribute (RFC 6154), which pymap does not write itself."""

    use: str | None = None

    @property
    def attributes(self) -> list[bytes]:
        return [*super().attributes, *([self.use.encode()] if self.use else [])]


class _SpecialUseTree(ListTree):
    def __init__(self, delimiter: str, uses: Mapping[str, str]) -> None:
        super().__init__(delimiter)
        self.uses = uses

    def list_matching(self, ref_name: str, filter_: str) -> Iterator[ListEntry]:
        for entry in super().list_matching(ref_name, filter_):
            yield _SpecialUseEntry(
                entry.name, entry.exists, entry.marked, entry.has_children, self.uses.get(entry.name)
            )


class _SpecialUseMailboxes(MailboxSet):
    """One user's folders; those named in `uses` are listed with that attribute (`Sent`...)."""

    def __init__(self, uses: Mapping[str, str]) -> None:
        super().__init__()
        self.uses = dict(uses)

    async def list_mailboxes(self) -> ListTree:
        plain = await super().list_mailboxes()
        names = [entry.name for entry in plain.list() if entry.exists]
        return _SpecialUseTree(self.delimiter, self.uses).update(*names)


class _Config(Config):
    """The dict backend's config, offering XOAUTH2 and SPECIAL-USE as well."""

    @property
    def tls_auth(self) -> SASLAuth:
        return SASLAuth.named([b"PLAIN", b"LOGIN", b"XOAUTH2"])

    @property
    def initial_auth(self) -> SASLAuth:
        # pymap offers no login before STARTTLS except from localhost; tests are all localhost.
        return self.tls_auth

    @property
    def login_capability(self) -> list[bytes]:
        return [*super().login_capability, b"SPECIAL-USE"]


class _Login(Login):
    """The dict backend's login, also taking OAuth2 bearer tokens (XOAUTH2)."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.bearer_tokens: dict[str, str] = {}  # token -> user

    async def authenticate(self, credentials: ServerCredentials) -> Identity:
        if isinstance(credentials, ExternalCredentials):
            token: str | None = None
            try:
                credentials.verify(None)  # raises, with the token to check
            except ExternalVerificationRequired as required:
                token = required.token
            if token is None or self.bearer_tokens.get(token) != credentials.authzid:
                raise InvalidAuth()
            return Identity(credentials.authzid, self, None, frozenset())
        return await super().authenticate(credentials)


class ImapServer:
    """pymap's IMAP4rev1 server with its in-memory backend, on an event loop in its own thread.

    `tls` "none" serves plain IMAP, "starttls" offers STARTTLS, "ssl" speaks TLS from the start;
    the last two need a `certificate`. APPEND refuses messages over `max_append_len` bytes.
    """

    def __init__(
        self, *, tls: Tls = "none", certificate: Certificate | None = None, max_append_len: int = 50_000_000
    ) -> None:
        if tls != "none" and certificate is None:
            raise ValueError("TLS needs a certificate")
        self.max_append_len = max_append_len
        self.host = HOST
        self.port = free_port()
        self.tls = tls
        self._certificate = certificate
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="imap-server", daemon=True)
        self._stack = AsyncExitStack()
        self._login: _Login | None = None

    @classmethod
    @contextmanager
    def running(
        cls, *, tls: Tls = "none", certificate: Certificate | None = None, max_append_len: int = 50_000_000
    ) -> Iterator["ImapServer"]:
        """Start a server (arguments as the constructor's), and stop it at the end."""
        server = cls(tls=tls, certificate=certificate, max_append_len=max_append_len)
        server.start()
        try:
            yield server
        finally:
            server.stop()

    def start(self) -> None:
        self._thread.start()
        self._call(self._start())

    def stop(self) -> None:
        self._call(self._stack.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def add_user(
        self,
        *,
        password: str | None = None,
        special_use: Mapping[str, str] | None = None,
        folders: Iterable[str] = (),
    ) -> ImapUser:
        """A new user with an empty INBOX (and `folders`), a password and an OAuth2 token.

        Args:
            password: the password; random when None.
            special_use: folder name -> attribute to list it with, e.g. {"Sent Items": "\\\\Sent"}.
            folders: folders to create besides INBOX.
        """
        user = ImapUser(
            name=f"user-{secrets.token_hex(4)}@example.com",
            password=password if password is not None else secrets.token_urlsafe(12),
            token=secrets.token_urlsafe(24),
        )
        uses = {name: use.lstrip("\\") for name, use in (special_use or {}).items()}
        self._call(self._add_user(user, uses, list(folders)))
        return user

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _start(self) -> None:
        config = _Config(
            Namespace(passlib_cfg=None, proxy_protocol=None, inherited_sockets=None),
            host=self.host,
            port=self.port,
            tls_enabled=self.tls == "starttls",
            ssl_context=self._certificate.server_context() if self._certificate else None,
            demo_data=False,
            demo_user="demouser",
            demo_password=secrets.token_urlsafe(12),
            # Fast: a real server hashes slowly and makes a refused login wait, on purpose.
            hash_context=BuiltinHash(rounds=1),
            invalid_user_sleep=0.0,
            reject_dnsbl=False,
            max_append_len=self.max_append_len,
        )
        config.apply_context()
        self._config = config
        self._login = _Login(config)
        backend = DictBackend(self._login, config)
        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(IMAPServer(backend.login, config))
        implicit = self._certificate.server_context() if self.tls == "ssl" and self._certificate else None
        server = await asyncio.start_server(callback, host=self.host, port=self.port, ssl=implicit)
        await self._stack.enter_async_context(server)

    async def _add_user(self, user: ImapUser, uses: dict[str, str], folders: list[str]) -> None:
        assert self._login is not None
        config = self._config
        hashed = await Passwords(config).hash_password(user.password)
        self._login.users_dict[user.name] = UserMetadata(config, user.name, password=hashed)
        self._login.bearer_tokens[user.token] = user.name
        mailboxes = _SpecialUseMailboxes(uses)
        for folder in folders:
            await mailboxes.add_mailbox(folder)
        config.set_cache[user.name] = (mailboxes, FilterSet())


@pytest.fixture(scope="session")
def imap_server() -> Iterator[ImapServer]:
    """A plain-IMAP server for the session; take a fresh user per test with `add_user()`."""
    with ImapServer.running() as server:
        yield server


# --- SMTP ----------------------------------------------------------------------------------------

_XOAUTH2 = re.compile(rb"^user=(?P<user>[^\x01]*)\x01auth=Bearer (?P<token>[^\x01]*)\x01\x01$")


@dataclass
class SmtpInbox:
    """An aiosmtpd handler that keeps what it receives, refuses `nobody@...`, and logs users in.

    Logins: PLAIN and LOGIN against `passwords` (user -> password), XOAUTH2 against `tokens`
    (token -> user). Without either, every login is refused; sending needs no login.
    """

    passwords: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    # Each message as (envelope: mail_from, rcpt_tos, original_content), parsed message.
    received: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    # Who logged in, in order ("user (MECHANISM)").
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        data = envelope.original_content or b""
        parsed = message_from_bytes(data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append((envelope, parsed))
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if user in self.passwords and secrets.compare_digest(self.passwords[user], password):
                self.logins.append(f"{user} ({mechanism})")
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        if len(args) > 1:
            response: Any = base64.b64decode(args[1])
        else:
            response = await server.challenge_auth("")
        match = _XOAUTH2.match(response) if isinstance(response, bytes) else None
        if match and self.tokens.get(match["token"].decode()) == match["user"].decode():
            self.logins.append(f"{match['user'].decode()} (XOAUTH2)")
            return AuthResult(success=True, auth_data=LoginPassword(match["user"], b""))
        return AuthResult(success=False, handled=False)


class SmtpServer:
    """aiosmtpd on a free port, with an `SmtpInbox`; logins allowed without TLS unless TLS is set."""

    def __init__(
        self, inbox: SmtpInbox | None = None, *, tls: Tls = "none", certificate: Certificate | None = None
    ) -> None:
        if tls != "none" and certificate is None:
            raise ValueError("TLS needs a certificate")
        self.inbox = inbox or SmtpInbox()
        self.tls = tls
        self.host = HOST
        self.port = free_port()
        context = certificate.server_context() if certificate else None
        self._controller = Controller(
            self.inbox,
            hostname=self.host,
            port=self.port,
            ssl_context=context if tls == "ssl" else None,
            tls_context=context if tls == "starttls" else None,
            authenticator=self.inbox.authenticate,
            # With STARTTLS offered, AUTH only after it, as real submission servers do.
            auth_require_tls=tls == "starttls",
        )

    @classmethod
    @contextmanager
    def running(
        cls, inbox: SmtpInbox | None = None, *, tls: Tls = "none", certificate: Certificate | None = None
    ) -> Iterator["SmtpServer"]:
        """Start a server, and stop it at the end."""
        server = cls(inbox, tls=tls, certificate=certificate)
        server._controller.start()
        try:
            yield server
        finally:
            server._controller.stop()

    @property
    def received(self) -> list[tuple[Envelope, EmailMessage]]:
        return self.inbox.received


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server for one test; put users in `smtp_server.inbox.passwords` / `.tokens`."""
    with SmtpServer.running() as server:
        yield server


def mailbox_settings(
    *, imap: ImapServer, user: ImapUser, smtp: SmtpServer | None = None, auth: str = "password"
) -> dict[str, Any]:
    """The fields of a connected mailbox (`MailboxConfig`, or an API body) for a user of these servers.

    Also lets the user log in to `smtp`, with the same password and token.
    """
    if smtp is not None:
        smtp.inbox.passwords[user.name] = user.password
        smtp.inbox.tokens[user.token] = user.name
    return {
        "smtp_host": smtp.host if smtp else HOST,
        "smtp_port": smtp.port if smtp else free_port(),
        "smtp_security": "none" if smtp is None or smtp.tls == "none" else smtp.tls,
        "imap_host": imap.host,
        "imap_port": imap.port,
        "imap_security": imap.tls,
        "username": user.name,
        "auth": auth,
        "secret": user.token if auth == "oauth2" else user.password,
    }
