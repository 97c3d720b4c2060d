"""Reading received mail into an InboundEmail: ordinary mail, and odd mail that must not raise."""

import random
from datetime import UTC, datetime

import pytest

from nurture.mailbox.parse import parse_email

REPLY = (
    b"Received: from mx2.example.com by mx.sales.example.com\r\n"
    b"Received: from laptop by mx2.example.com\r\n"
    b'From: "Lovelace, Ada" <ada@example.com>\r\n'
    b"To: Grace <grace@sales.example.com>, team@sales.example.com\r\n"
    b"Cc: charles@example.com\r\n"
    b"Subject: =?utf-8?b?UmU6IE91ciBvZmZlciDinJM=?=\r\n"
    b"Date: Wed, 02 Apr 2025 09:30:00 +0200\r\n"
    b"Message-ID: <reply-1@example.com>\r\n"
    b"In-Reply-To: <sent-1@sales.example.com>\r\n"
    b"References: <first@sales.example.com>\r\n <sent-1@sales.example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Yes, Tuesday works. Caf=E9?\r\n"
    b"--b1\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<p>Yes, <b>Tuesday</b> works. Caf\xc3\xa9?</p>\r\n"
    b"--b1--\r\n"
)


def test_an_ordinary_reply() -> None:
    email = parse_email(REPLY)
    assert email.from_email == "ada@example.com" and email.from_name == "Lovelace, Ada"
    assert email.to == ("grace@sales.example.com", "team@sales.example.com")
    assert email.cc == ("charles@example.com",)
    assert email.subject == "Re: Our offer ✓"
    assert email.message_id == "<reply-1@example.com>"
    assert email.in_reply_to == "<sent-1@sales.example.com>"
    assert email.references == ("<first@sales.example.com>", "<sent-1@sales.example.com>")
    assert email.received_at == datetime(2025, 4, 2, 7, 30, tzinfo=UTC)
    assert email.text.strip() == "Yes, Tuesday works. Café?"
    assert email.html is not None and "<b>Tuesday</b> works. Café?" in email.html
    # Names lowercased, the first of a repeated header kept.
    assert email.headers["received"] == "from mx2.example.com by mx.sales.example.com"
    assert email.headers["message-id"] == "<reply-1@example.com>"
    assert email.automatic is None


def test_html_only_mail_gets_its_text_from_the_html() -> None:
    raw = (
        b"From: ada@example.com\r\nSubject: Hi\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p{}</style></head><body><p>First</p><p>Second <a href='https://x.example'>link</a>"
        b"</p></body></html>"
    )
    email = parse_email(raw)
    assert email.html is not None and email.html.startswith("<html>")
    assert email.text == "First\n\nSecond link (https://x.example)"


def test_an_attached_text_file_is_not_the_body() -> None:
    raw = (
        b'From: ada@example.com\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n'
        b"--m\r\nContent-Type: text/html\r\n\r\n<p>See attached</p>\r\n"
        b"--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=notes.txt\r\n\r\n"
        b"secret notes\r\n--m--\r\n"
    )
    assert parse_email(raw).text == "See attached"


def test_auto_replies_are_recognised() -> None:
    raw = b"From: ada@example.com\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\nAway.\r\n"
    assert parse_email(raw).automatic == "Auto-Submitted: auto-replied"
    bounce = b"From: MAILER-DAEMON@example.com\r\nReturn-Path: <>\r\nSubject: Undelivered\r\n\r\nx\r\n"
    assert parse_email(bounce).automatic == "empty Return-Path (a delivery report)"


def test_a_message_with_no_headers_at_all() -> None:
    email = parse_email(b"just a line of text\r\n")
    assert (email.from_email, email.from_name, email.subject) == ("", None, "")
    assert (email.message_id, email.in_reply_to, email.references, email.received_at) == (
        None,
        None,
        (),
        None,
    )
    assert email.to == () and email.html is None


def test_an_empty_message() -> None:
    email = parse_email(b"")
    assert email.from_email == "" and email.text == ""


def test_headers_in_raw_8bit_or_unknown_charsets() -> None:
    raw = (
        "From: Zoë Ünal <zoe@example.com>\r\n".encode()
        + b"Subject: Caf\xe9 cr\xe8me\r\n"  # Latin-1, unencoded
        + b"X-Odd: =?x-no-such-charset?q?abc?=\r\n"
        + b"Date: yesterday-ish\r\n"
        + b"In-Reply-To: sent-1@sales.example.com\r\n"
        + b"\r\nbody\r\n"
    )
    email = parse_email(raw)
    assert email.from_name == "Zoë Ünal" and email.from_email == "zoe@example.com"
    assert email.subject == "Café crème"
    assert "abc" in email.headers["x-odd"]
    assert email.received_at is None
    # A bare id gets its brackets, as stored ids have them.
    assert email.in_reply_to == "<sent-1@sales.example.com>"


def test_a_body_in_an_unknown_charset_or_broken_encoding() -> None:
    unknown = (
        b'From: a@example.com\r\nContent-Type: text/plain; charset="x-klingon"\r\n\r\nQapla\xe2\x80\x99!\r\n'
    )
    assert parse_email(unknown).text.strip() == "Qapla’!"
    # A charset name no codec could have (a NUL makes the codec lookup raise ValueError).
    impossible = b'From: a@example.com\r\nContent-Type: text/plain; charset="utf\x008"\r\n\r\nok\r\n'
    assert parse_email(impossible).text.strip() == "ok"
    broken = (
        b"From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8gV29y!!bGQ\r\n"
    )
    assert parse_email(broken).text.startswith("Hello")


def test_odd_address_headers() -> None:
    raw = (
        b'From: <<<>>> @@ \r\nTo: undisclosed-recipients:;\r\nCc: "unterminated <x@example.com>\r\n'
        b"References: no ids here\r\n\r\nx\r\n"
    )
    email = parse_email(raw)
    # Nothing that is not an address passes for one.
    assert (email.from_email, email.to, email.cc, email.references) == ("", (), (), ())


@pytest.mark.parametrize("seed", range(3))
def test_mangled_mail_never_raises(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        raw = bytearray(REPLY)
        for _ in range(rng.randint(1, 40)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        cut = bytes(raw[: rng.randrange(len(raw) + 1)])
        for sample in (bytes(raw), cut, rng.randbytes(rng.randrange(300))):
            email = parse_email(sample)
            assert isinstance(email.text, str) and isinstance(email.subject, str)
