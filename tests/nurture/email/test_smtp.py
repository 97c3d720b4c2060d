"""The SMTP provider against a real SMTP server (aiosmtpd): what arrives, and how failures read."""

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from nurture.email.outgoing import NotSent, OutgoingEmail, Rejected
from nurture.email.smtp import KEY_HEADER, SmtpConfig, SmtpProvider, message_id_for


class Inbox:
    """An aiosmtpd handler that keeps what it receives and refuses one address."""

    def __init__(self) -> None:
        self.received: list[tuple[Envelope, EmailMessage]] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options):  # noqa: N802, ANN001, ANN201
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append((envelope, parsed))
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def _email(to: str = "ada@example.com", key: str = "test:smtp:1") -> OutgoingEmail:
    return OutgoingEmail(
        key=key,
        from_email="Grace Hopper <grace@sales.example.com>",
        to=to,
        subject="Following up",
        html="<p>Hello <b>Ada</b></p>",
        text="Hello Ada",
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
