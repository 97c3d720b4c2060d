"""Logging in to a real IMAP server (pymap): passwords, OAuth2, TLS, and how failures are told apart."""

from collections.abc import Iterator
from typing import Any

import pytest

from nurture.mailbox.config import MailboxConfig
from nurture.mailbox.errors import LoginRefused, MailboxUnavailable
from nurture.mailbox.imap import open_imap
from tests.mail_servers import (
    Certificate,
    ImapServer,
    ImapUser,
    free_port,
    mailbox_settings,
    make_certificate,
)


def _config(imap_server: ImapServer, user: ImapUser, **changes: Any) -> MailboxConfig:
    return MailboxConfig.model_validate({**mailbox_settings(imap=imap_server, user=user), **changes})


def _log_in(config: MailboxConfig, *, timeout: float = 3) -> None:
    with open_imap(config, timeout=timeout):
        pass


def test_a_password_logs_in(imap_server: ImapServer, user: ImapUser) -> None:
    with open_imap(_config(imap_server, user)) as imap:
        assert imap.state == "AUTH"
        typ, _ = imap.select("INBOX", readonly=True)
        assert typ == "OK"


def test_a_wrong_password_is_a_permanent_refusal(imap_server: ImapServer, user: ImapUser) -> None:
    with pytest.raises(LoginRefused, match="IMAP login refused") as refused:
        _log_in(_config(imap_server, user, secret="not-the-password"))
    assert refused.value.failure == "login"


def test_an_oauth2_token_logs_in_with_xoauth2(imap_server: ImapServer, user: ImapUser) -> None:
    with open_imap(_config(imap_server, user, auth="oauth2", secret=user.token)) as imap:
        assert imap.state == "AUTH"
    with pytest.raises(LoginRefused, match="access token"):
        _log_in(_config(imap_server, user, auth="oauth2", secret="expired-token"))


def test_a_password_outside_ascii_logs_in(imap_server: ImapServer) -> None:
    # LOGIN cannot carry it; SASL PLAIN can.
    user = imap_server.add_user(password="pässwörd-ünïcode")
    with open_imap(_config(imap_server, user)) as imap:
        assert imap.state == "AUTH"


def test_a_closed_port_is_a_transient_refusal() -> None:
    user = ImapUser("ada@example.com", "x", "y")
    config = MailboxConfig.model_validate(
        {
            "smtp_host": "127.0.0.1",
            "imap_host": "127.0.0.1",
            "imap_port": free_port(),
            "imap_security": "none",
            "username": user.name,
            "secret": user.password,
        }
    )
    with pytest.raises(MailboxUnavailable, match="connection refused") as unavailable:
        _log_in(config, timeout=3)
    assert unavailable.value.failure == "refused"


def test_an_unknown_host_is_transient_and_says_so(imap_server: ImapServer, user: ImapUser) -> None:
    with pytest.raises(MailboxUnavailable, match="host not found") as unavailable:
        _log_in(_config(imap_server, user, imap_host="imap.nurture.invalid"), timeout=3)
    assert unavailable.value.failure == "host_not_found"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def trusted(certificate: Certificate, monkeypatch: pytest.MonkeyPatch) -> Certificate:
    """Clients trust the test certificate, as they trust a real one."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert_file))
    return certificate


@pytest.fixture(scope="module")
def tls_servers(certificate: Certificate) -> Iterator[dict[str, ImapServer]]:
    with (
        ImapServer.running(tls="ssl", certificate=certificate) as implicit,
        ImapServer.running(tls="starttls", certificate=certificate) as starttls,
    ):
        yield {"ssl": implicit, "starttls": starttls}


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_and_starttls_log_in_over_a_checked_certificate(
    tls_servers: dict[str, ImapServer], trusted: Certificate, security: str
) -> None:
    server = tls_servers[security]
    with open_imap(_config(server, server.add_user())) as imap:
        assert imap.state == "AUTH"
        assert imap.sock.version() is not None  # type: ignore[attr-defined]


def test_an_untrusted_certificate_is_refused(tls_servers: dict[str, ImapServer]) -> None:
    server = tls_servers["ssl"]
    with pytest.raises(MailboxUnavailable, match="not trusted") as unavailable:
        _log_in(_config(server, server.add_user()), timeout=3)
    assert unavailable.value.failure == "certificate"


def test_tls_to_a_plain_port_fails_the_handshake(imap_server: ImapServer, user: ImapUser) -> None:
    with pytest.raises(MailboxUnavailable, match="TLS handshake") as unavailable:
        _log_in(_config(imap_server, user, imap_security="ssl"), timeout=3)
    assert unavailable.value.failure == "tls"


def test_plain_to_a_tls_port_gets_no_greeting(tls_servers: dict[str, ImapServer]) -> None:
    server = tls_servers["ssl"]
    with pytest.raises(MailboxUnavailable, match="no greeting") as unavailable:
        _log_in(_config(server, server.add_user(), imap_security="none"), timeout=0.5)
    assert unavailable.value.failure == "no_greeting"


def test_starttls_asked_of_a_server_without_it(imap_server: ImapServer, user: ImapUser) -> None:
    with pytest.raises(MailboxUnavailable, match="does not offer STARTTLS"):
        _log_in(_config(imap_server, user, imap_security="starttls"), timeout=3)
