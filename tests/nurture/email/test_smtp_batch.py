"""The SMTP provider has no batch call: send_batch submits one by one, each with its own outcome."""

from nurture.email.outgoing import NotSent, Rejected
from nurture.email.smtp import KEY_HEADER, SmtpConfig, SmtpProvider, message_id_for
from tests.nurture.email.test_smtp import Inbox, _email, _free_port, smtp_inbox

__all__ = ["smtp_inbox"]  # the fixture, used by name


def test_each_email_is_submitted_and_a_refused_recipient_fails_alone(smtp_inbox: tuple[Inbox, int]) -> None:
    inbox, port = smtp_inbox
    provider = SmtpProvider(SmtpConfig(hostname="127.0.0.1", port=port, start_tls=False))
    emails = [
        _email(key="smtp:batch:1"),
        _email(to="nobody@example.com", key="smtp:batch:2"),
        _email(key="smtp:batch:3"),
    ]
    first, refused, last = provider.send_batch(emails)

    assert first == message_id_for(emails[0]) and last == message_id_for(emails[2])
    assert isinstance(refused, Rejected) and "No such user" in refused.reason
    assert [received[KEY_HEADER] for _, received in inbox.received] == ["smtp:batch:1", "smtp:batch:3"]


def test_after_the_server_fails_the_rest_are_not_tried() -> None:
    provider = SmtpProvider(SmtpConfig(hostname="127.0.0.1", port=_free_port(), start_tls=False, timeout=3))
    unreachable, untried = provider.send_batch([_email(key="smtp:down:1"), _email(key="smtp:down:2")])
    assert isinstance(unreachable, NotSent) and "unreachable" in unreachable.reason
    assert isinstance(untried, NotSent) and "not tried" in untried.reason
