"""Checking a mailbox before saving it, against real servers: which field is named, and why."""

from collections.abc import Iterator
from typing import Any

import pytest

from nurture.mailbox.check import MailboxCheckFailed, MailboxProblem, check_mailbox
from nurture.mailbox.config import MailboxConfig
from tests.mail_servers import (
    Certificate,
    ImapServer,
    ImapUser,
    SmtpServer,
    free_port,
    mailbox_settings,
    make_certificate,
)


@pytest.fixture
def settings(imap_server: ImapServer, smtp_server: SmtpServer, user: ImapUser) -> dict[str, Any]:
    return mailbox_settings(imap=imap_server, smtp=smtp_server, user=user)


def _problems(settings: dict[str, Any], *, timeout: float = 2, **changes: Any) -> list[MailboxProblem]:
    config = MailboxConfig.model_validate({**settings, **changes})
    with pytest.raises(MailboxCheckFailed) as failed:
        check_mailbox(config, timeout=timeout)
    return list(failed.value.problems)


def test_a_working_mailbox_passes_and_tells_its_sent_folder(
    imap_server: ImapServer, smtp_server: SmtpServer
) -> None:
    user = imap_server.add_user(special_use={"Sent Items": "\\Sent"}, folders=["Sent Items"])
    config = MailboxConfig.model_validate(mailbox_settings(imap=imap_server, smtp=smtp_server, user=user))
    assert check_mailbox(config) == "Sent Items"
    # It logged in to SMTP and sent nothing.
    assert smtp_server.inbox.logins == [f"{user.name} (PLAIN)"] and smtp_server.received == []


def test_an_oauth2_mailbox_passes(imap_server: ImapServer, smtp_server: SmtpServer, user: ImapUser) -> None:
    config = MailboxConfig.model_validate(
        mailbox_settings(imap=imap_server, smtp=smtp_server, user=user, auth="oauth2")
    )
    assert check_mailbox(config) == "Sent"
    assert smtp_server.inbox.logins == [f"{user.name} (XOAUTH2)"]


def test_a_wrong_password_names_the_secret_for_each_server(settings: dict[str, Any]) -> None:
    problems = _problems(settings, secret="wrong")
    assert [problem.field for problem in problems] == ["secret", "secret"]
    smtp, imap = (problem.message for problem in problems)
    assert smtp.startswith("SMTP login refused (check the username or password): 535")
    assert imap.startswith("IMAP login refused (check the username or password)")


def test_an_unknown_host_names_the_host(settings: dict[str, Any]) -> None:
    problems = _problems(settings, imap_host="imap.nurture.invalid", smtp_host="smtp.nurture.invalid")
    assert problems == [
        MailboxProblem("smtp_host", "host not found: smtp.nurture.invalid"),
        MailboxProblem("imap_host", "host not found: imap.nurture.invalid"),
    ]


def test_a_closed_port_names_the_port(settings: dict[str, Any]) -> None:
    smtp_port, imap_port = free_port(), free_port()
    problems = _problems(settings, smtp_port=smtp_port, imap_port=imap_port)
    assert problems == [
        MailboxProblem("smtp_port", f"connection refused by 127.0.0.1:{smtp_port}"),
        MailboxProblem("imap_port", f"connection refused by 127.0.0.1:{imap_port}"),
    ]


def test_one_wrong_setting_is_the_only_one_named(settings: dict[str, Any]) -> None:
    port = free_port()
    assert _problems(settings, imap_port=port) == [
        MailboxProblem("imap_port", f"connection refused by 127.0.0.1:{port}")
    ]


def test_tls_asked_of_plain_servers_names_the_security(settings: dict[str, Any]) -> None:
    problems = _problems(settings, smtp_security="ssl", imap_security="ssl")
    assert [problem.field for problem in problems] == ["smtp_security", "imap_security"]
    assert all("TLS handshake" in problem.message for problem in problems)


def test_a_configured_sent_folder_must_exist(settings: dict[str, Any]) -> None:
    assert _problems(settings, sent_folder="Outbox") == [
        MailboxProblem("sent_folder", "the IMAP server has no folder named 'Outbox'")
    ]


def test_the_problems_read_like_validation_errors(settings: dict[str, Any]) -> None:
    config = MailboxConfig.model_validate({**settings, "sent_folder": "Outbox"})
    with pytest.raises(MailboxCheckFailed, match="sent_folder: the IMAP server has no folder") as failed:
        check_mailbox(config, timeout=2)
    assert failed.value.errors() == [
        {
            "type": "mailbox_check",
            "loc": ("sent_folder",),
            "msg": "the IMAP server has no folder named 'Outbox'",
        }
    ]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_smtp(certificate: Certificate, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """A submission server that offers STARTTLS and AUTH only after it, with a trusted certificate."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert_file))
    with SmtpServer.running(tls="starttls", certificate=certificate) as server:
        yield server


def test_starttls_submission_passes_and_no_tls_is_named(
    imap_server: ImapServer, tls_smtp: SmtpServer, user: ImapUser
) -> None:
    settings = mailbox_settings(imap=imap_server, smtp=tls_smtp, user=user)
    assert settings["smtp_security"] == "starttls"
    assert check_mailbox(MailboxConfig.model_validate(settings)) == "Sent"
    assert tls_smtp.inbox.logins == [f"{user.name} (PLAIN)"]

    [problem] = _problems(settings, smtp_security="none")
    assert problem.field == "smtp_security"
    assert "without TLS" in problem.message


def test_starttls_asked_of_plain_servers_names_the_security(settings: dict[str, Any]) -> None:
    problems = _problems(settings, smtp_security="starttls", imap_security="starttls")
    assert [problem.field for problem in problems] == ["smtp_security", "imap_security"]
    assert all("STARTTLS" in problem.message for problem in problems)


def test_an_untrusted_certificate_names_the_host(
    imap_server: ImapServer, certificate: Certificate, user: ImapUser
) -> None:
    with SmtpServer.running(tls="starttls", certificate=certificate) as untrusted:
        [problem] = _problems(mailbox_settings(imap=imap_server, smtp=untrusted, user=user))
    assert problem.field == "smtp_host"
    assert "certificate" in problem.message and "not trusted" in problem.message


def test_implicit_tls_passes_and_plain_to_it_names_the_security(
    certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert_file))
    with (
        ImapServer.running(tls="ssl", certificate=certificate) as imap,
        SmtpServer.running(tls="ssl", certificate=certificate) as smtp,
    ):
        user = imap.add_user(folders=["Sent"])
        settings = mailbox_settings(imap=imap, smtp=smtp, user=user)
        assert (settings["smtp_security"], settings["imap_security"]) == ("ssl", "ssl")
        assert check_mailbox(MailboxConfig.model_validate(settings)) == "Sent"

        problems = _problems(settings, smtp_security="none", imap_security="none", timeout=0.5)
    assert [problem.field for problem in problems] == ["smtp_security", "imap_security"]
    assert all("sent no greeting" in problem.message for problem in problems)
