"""Reading new mail by UID from a real IMAP server (pymap), and replies to what we sent over SMTP."""

import imaplib
from datetime import UTC, date, datetime

import pytest

from nurture.email.outgoing import OutgoingEmail
from nurture.email.smtp import SmtpProvider
from nurture.mailbox.config import MailboxConfig
from nurture.mailbox.errors import MailboxRefused
from nurture.mailbox.fetch import fetch_since
from nurture.mailbox.folders import quote_name
from nurture.mailbox.imap import open_imap
from nurture.mailbox.parse import parse_email
from tests.mail_servers import SmtpServer


def _deliver(
    config: MailboxConfig, *messages: bytes, folder: str = "INBOX", when: datetime | None = None
) -> None:
    """Put messages in a folder, unread, as the mail server does when mail arrives."""
    with open_imap(config) as imap:
        for raw in messages:
            moment = imaplib.Time2Internaldate(when or datetime.now(UTC))
            typ, data = imap.append(quote_name(folder), None, moment, raw)
            assert typ == "OK", data


def _mail(number: int, **headers: str) -> bytes:
    lines = [
        f"From: Ada <ada@example.com>\r\nSubject: Message {number}\r\nMessage-ID: <m{number}@example.com>"
    ]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + f"\r\n\r\nBody {number}\r\n").encode()


def _flags(config: MailboxConfig) -> list[bytes]:
    with open_imap(config) as imap:
        imap.select("INBOX", readonly=True)
        _, data = imap.fetch("1:*", "(FLAGS)")
        return [item for item in data if isinstance(item, bytes)]


def test_only_new_messages_are_read_and_none_is_marked_read(config: MailboxConfig) -> None:
    first = fetch_since(config, uid_validity=None, after_uid=0, limit=10)
    # The first read starts from now: what was there before is not "new".
    assert first.restarted and first.messages == ()

    _deliver(config, _mail(1), _mail(2))
    second = fetch_since(config, uid_validity=first.uid_validity, after_uid=first.last_uid, limit=10)
    assert not second.restarted and not second.more
    assert [parse_email(message.raw).subject for message in second.messages] == ["Message 1", "Message 2"]
    assert second.last_uid == second.messages[-1].uid > first.last_uid
    assert all(b"\\Seen" not in line for line in _flags(config))

    # Nothing new: nothing returned (though "UID n:*" matches the last message on the server).
    third = fetch_since(config, uid_validity=second.uid_validity, after_uid=second.last_uid, limit=10)
    assert third.messages == () and third.last_uid == second.last_uid

    _deliver(config, _mail(3))
    fourth = fetch_since(config, uid_validity=third.uid_validity, after_uid=third.last_uid, limit=10)
    assert [parse_email(message.raw).subject for message in fourth.messages] == ["Message 3"]


def test_a_limit_leaves_the_rest_for_the_next_call(config: MailboxConfig) -> None:
    start = fetch_since(config, uid_validity=None, after_uid=0, limit=10)
    _deliver(config, *(_mail(number) for number in range(1, 6)))

    first = fetch_since(config, uid_validity=start.uid_validity, after_uid=start.last_uid, limit=2)
    assert first.more and len(first.messages) == 2
    second = fetch_since(config, uid_validity=first.uid_validity, after_uid=first.last_uid, limit=2)
    third = fetch_since(config, uid_validity=second.uid_validity, after_uid=second.last_uid, limit=2)
    assert not third.more
    subjects = [parse_email(m.raw).subject for result in (first, second, third) for m in result.messages]
    assert subjects == [f"Message {number}" for number in range(1, 6)]


def test_a_new_uidvalidity_restarts_from_now_or_from_a_day(config: MailboxConfig) -> None:
    with open_imap(config) as imap:
        imap.create("Replies")
    _deliver(config, _mail(1), folder="Replies")
    before = fetch_since(config, folder="Replies", uid_validity=None, after_uid=0, limit=10)

    # The folder is recreated (as after a server migration): its UIDs start over.
    for _ in range(5):
        with open_imap(config) as imap:
            imap.delete("Replies")
            imap.create("Replies")
        _deliver(config, _mail(2), when=datetime(2020, 1, 1, tzinfo=UTC), folder="Replies")
        _deliver(config, _mail(3), folder="Replies")
        after = fetch_since(
            config, folder="Replies", uid_validity=before.uid_validity, after_uid=99999, limit=10
        )
        if after.uid_validity != before.uid_validity:  # pymap's is partly random: it may repeat
            break
    assert after.restarted and after.messages == ()

    since = fetch_since(
        config,
        folder="Replies",
        uid_validity=before.uid_validity,
        after_uid=99999,
        limit=10,
        since=date(2024, 6, 1),
    )
    assert since.restarted
    assert [parse_email(message.raw).subject for message in since.messages] == ["Message 3"]
    assert since.last_uid == after.last_uid == since.messages[-1].uid


def test_a_folder_that_does_not_exist_is_a_permanent_refusal(config: MailboxConfig) -> None:
    with pytest.raises(MailboxRefused, match="Nowhere"):
        fetch_since(config, folder="Nowhere", uid_validity=None, after_uid=0, limit=10)


def test_a_reply_to_what_we_sent_is_read_with_its_in_reply_to(
    config: MailboxConfig, smtp_server: SmtpServer
) -> None:
    start = fetch_since(config, uid_validity=None, after_uid=0, limit=10)
    email = OutgoingEmail(
        key="mailbox:reply:1",
        from_email=config.from_email,
        to="Ada Lovelace <ada@example.com>",
        subject="Our offer",
        html=None,
        text="Shall we talk?",
    )
    message_id = SmtpProvider(config.smtp_config(timeout=5)).send(email)
    [(_, sent)] = smtp_server.received
    assert sent["Message-ID"] == message_id

    reply = (
        f"From: =?utf-8?q?Ada_Lovel=C3=A1ce?= <ada@example.com>\r\n"
        f"To: {config.from_email}\r\n"
        f"Subject: Re: {sent['Subject']}\r\n"
        f"Date: Wed, 02 Apr 2025 09:30:00 +0200\r\n"
        f"Message-ID: <reply-1@example.com>\r\n"
        f"In-Reply-To: {message_id}\r\n"
        f"References: <earlier@example.com>\r\n {message_id}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Yes, Tuesday works.\r\n\r\n> Shall we talk?\r\n"
    ).encode()
    auto_reply = _mail(2, In_Reply_To=message_id, Auto_Submitted="auto-replied")
    _deliver(config, reply, auto_reply)

    result = fetch_since(config, uid_validity=start.uid_validity, after_uid=start.last_uid, limit=10)
    person, machine = (parse_email(message.raw) for message in result.messages)
    assert person.in_reply_to == message_id
    assert person.references == ("<earlier@example.com>", message_id)
    assert person.from_email == "ada@example.com" and person.from_name == "Ada Loveláce"
    assert person.subject == "Re: Our offer"
    assert person.text.startswith("Yes, Tuesday works.")
    assert person.received_at == datetime.fromisoformat("2025-04-02T09:30:00+02:00")
    assert person.automatic is None
    assert machine.in_reply_to == message_id
    assert machine.automatic == "Auto-Submitted: auto-replied"
