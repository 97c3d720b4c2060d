"""The SMTP provider against a real SMTP server (aiosmtpd): what arrives, and how failures read."""

from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from nurture.email.outgoing import NotSent, OutgoingEmail, Rejected
from nurture.email.smtp import KEY_HEADER, SmtpConfig, SmtpProvider, build_mime, message_id_for
from tests.mail_servers import SmtpInbox, SmtpServer
from tests.mail_servers import free_port as _free_port

# Kept under these names for test_smtp_batch.
Inbox = SmtpInbox
__all__ = ["Inbox", "_free_port"]


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[SmtpInbox, int]]:
    with SmtpServer.running(SmtpInbox(passwords={"grace": "s3cret"}, tokens={"tok-123": "grace"})) as server:
        yield server.inbox, server.port


def _email(to: str = "ada@example.com", key: str = "test:smtp:1", **more: object) -> OutgoingEmail:
    return OutgoingEmail(
        key=key,
        from_email="Grace Hopper <grace@sales.example.com>",
        to=to,
        subject="Following up",
        html="<p>Hello <b>Ada</b></p>",
        text="Hello Ada",
        **more,  # type: ignore[arg-type]
    )


def test_an_email_arrives_with_its_key_and_a_message_id_made_from_it(smtp_inbox: tuple[Inbox, int]) -> None:
    inbox, port = smtp_inbox
    provider = SmtpProvider(SmtpConfig(hostname="127.0.0.1", port=port, start_tls=False))
    email = _email()
    message_id = provider.send(email)

    [(envelope, received)] = inbox.received
    assert envelope.mail_from == "grace@sales.example.com"
    assert envelope.rcpt_tos == ["ada@example.com"]
    assert received["Subject"] == "Following up"
    assert received[KEY_HEADER] == "test:smtp:1"
    assert received["Message-ID"] == message_id == message_id_for(email)
    assert message_id.endswith("@sales.example.com>")
    parts = {part.get_content_type(): part.get_content() for part in received.iter_parts()}
    assert "Hello <b>Ada</b>" in parts["text/html"] and "Hello Ada" in parts["text/plain"]
    # A resend after an unknown outcome carries the same Message-ID, so clients show one email.
    assert message_id_for(_email()) == message_id
    assert message_id_for(_email(key="test:smtp:2")) != message_id


def test_cc_is_a_header_and_bcc_only_an_envelope_recipient(smtp_inbox: tuple[Inbox, int]) -> None:
    inbox, port = smtp_inbox
    provider = SmtpProvider(SmtpConfig(hostname="127.0.0.1", port=port, start_tls=False))
    email = _email(
        to="Ada Lovelace <ada@example.com>",
        cc=("Charles Babbage <charles@example.com>", "ada@example.com"),
        bcc=("boss@sales.example.com",),
        reply_to="Sales <sales@sales.example.com>",
    )
    provider.send(email)

    [(envelope, received)] = inbox.received
    # Everyone gets it once, the Bcc address too, through the envelope alone.
    assert envelope.rcpt_tos == ["ada@example.com", "charles@example.com", "boss@sales.example.com"]
    assert received["To"] == "Ada Lovelace <ada@example.com>"
    assert received["Cc"] == "Charles Babbage <charles@example.com>, ada@example.com"
    assert received["Reply-To"] == "Sales <sales@sales.example.com>"
    data = envelope.original_content or b""
    assert b"boss@sales.example.com" not in data
    assert b"bcc:" not in data.lower()


def test_the_sent_copy_keeps_the_bcc_header_and_the_date_given() -> None:
    email = _email(bcc=("boss@sales.example.com",))
    sent_at = datetime(2025, 4, 1, 10, 0, tzinfo=UTC)
    copy = message_from_bytes(
        build_mime(email, date=sent_at, with_bcc=True).as_bytes(), policy=policy.default
    )
    assert copy["Bcc"] == "boss@sales.example.com"
    assert copy["Date"].datetime == sent_at
    assert "Bcc" not in build_mime(email)


def test_a_password_login_is_used_and_a_wrong_one_is_a_permanent_rejection(
    smtp_inbox: tuple[Inbox, int],
) -> None:
    inbox, port = smtp_inbox
    good = SmtpConfig(hostname="127.0.0.1", port=port, start_tls=False, username="grace", password="s3cret")
    SmtpProvider(good).send(_email())
    assert inbox.logins == ["grace (PLAIN)"]

    bad = SmtpConfig(hostname="127.0.0.1", port=port, start_tls=False, username="grace", password="wrong")
    with pytest.raises(Rejected, match="535"):
        SmtpProvider(bad).send(_email(key="test:smtp:2"))
    assert len(inbox.received) == 1


def test_an_oauth2_token_logs_in_with_xoauth2(smtp_inbox: tuple[Inbox, int]) -> None:
    inbox, port = smtp_inbox
    config = SmtpConfig(
        hostname="127.0.0.1", port=port, start_tls=False, username="grace", oauth_token="tok-123"
    )
    SmtpProvider(config).send(_email())
    assert inbox.logins == ["grace (XOAUTH2)"]
    assert len(inbox.received) == 1

    expired = SmtpConfig(
        hostname="127.0.0.1", port=port, start_tls=False, username="grace", oauth_token="old"
    )
    with pytest.raises(Rejected, match="535"):
        SmtpProvider(expired).send(_email(key="test:smtp:2"))


def test_a_password_and_a_token_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        SmtpConfig(hostname="127.0.0.1", username="grace", password="x", oauth_token="y")


def test_a_refused_recipient_is_a_permanent_rejection(smtp_inbox: tuple[Inbox, int]) -> None:
    inbox, port = smtp_inbox
    provider = SmtpProvider(SmtpConfig(hostname="127.0.0.1", port=port, start_tls=False))
    with pytest.raises(Rejected, match="No such user"):
        provider.send(_email(to="nobody@example.com"))
    assert inbox.received == []


def test_an_unreachable_server_is_not_sent_and_can_be_retried() -> None:
    provider = SmtpProvider(SmtpConfig(hostname="127.0.0.1", port=_free_port(), start_tls=False, timeout=3))
    with pytest.raises(NotSent, match="unreachable"):
        provider.send(_email())
