"""Postmark's inbound webhook body read into an InboundEmail: the documented example, replies, errors."""

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from nurture.email.postmark_inbound import PostmarkInboundError, parse_inbound

# The example JSON of https://postmarkapp.com/developer/webhooks/inbound-webhook, trimmed
# (Bcc, BccFull and the attachment's content left out).
DOCS_EXAMPLE: dict[str, Any] = {
    "FromName": "Postmarkapp Support",
    "MessageStream": "inbound",
    "From": "support@postmarkapp.com",
    "FromFull": {"Email": "support@postmarkapp.com", "Name": "Postmarkapp Support", "MailboxHash": ""},
    "To": '"Firstname Lastname" <yourhash+SampleHash@inbound.postmarkapp.com>',
    "ToFull": [
        {
            "Email": "yourhash+SampleHash@inbound.postmarkapp.com",
            "Name": "Firstname Lastname",
            "MailboxHash": "SampleHash",
        }
    ],
    "Cc": '"First Cc" <firstcc@postmarkapp.com>, secondCc@postmarkapp.com>',
    "CcFull": [
        {"Email": "firstcc@postmarkapp.com", "Name": "First Cc", "MailboxHash": ""},
        {"Email": "secondCc@postmarkapp.com", "Name": "", "MailboxHash": ""},
    ],
    "OriginalRecipient": "yourhash+SampleHash@inbound.postmarkapp.com",
    "Subject": "Test subject",
    "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
    "ReplyTo": "replyto@postmarkapp.com",
    "MailboxHash": "SampleHash",
    "Date": "Fri, 1 Aug 2014 16:45:32 -04:00",
    "TextBody": "This is a test text body.",
    "HtmlBody": "<html><body><p>This is a test html body.</p></body></html>",
    "StrippedTextReply": "This is the reply text",
    "Tag": "TestTag",
    "Headers": [
        {"Name": "X-Header-Test", "Value": ""},
        {"Name": "X-Spam-Status", "Value": "No"},
        {"Name": "X-Spam-Score", "Value": "-0.1"},
        {"Name": "X-Spam-Tests", "Value": "DKIM_SIGNED,DKIM_VALID,DKIM_VALID_AU,SPF_PASS"},
    ],
    "Attachments": [{"Name": "test.txt", "Content": "", "ContentType": "text/plain", "ContentLength": 45}],
}


def _payload(**changes: Any) -> dict[str, Any]:
    # The example with fields replaced; None leaves a field out.
    payload = copy.deepcopy(DOCS_EXAMPLE)
    for name, value in changes.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def test_the_documented_example() -> None:
    email = parse_inbound(DOCS_EXAMPLE)

    assert (email.from_email, email.from_name) == ("support@postmarkapp.com", "Postmarkapp Support")
    assert email.subject == "Test subject"
    assert email.text == "This is the reply text"
    assert email.html == "<html><body><p>This is a test html body.</p></body></html>"
    assert email.to == ("yourhash+SampleHash@inbound.postmarkapp.com",)
    assert email.cc == ("firstcc@postmarkapp.com", "secondCc@postmarkapp.com")
    assert email.mailbox_hash == "SampleHash"
    # "-04:00" is not RFC 2822's "-0400"; the offset must survive anyway.
    assert email.received_at == datetime(2014, 8, 1, 16, 45, 32, tzinfo=timezone(timedelta(hours=-4)))
    # Postmark's MessageID is its own UUID, not the email's Message-ID header, which this example lacks.
    assert email.message_id is None
    assert email.in_reply_to is None and email.references == ()
    assert email.headers["x-spam-status"] == "No" and email.headers["x-header-test"] == ""
    assert email.automatic is None


def test_a_reply_reads_its_threading_headers_lowercased_first_value_kept() -> None:
    headers = [
        {"Name": "Received", "Value": "by mx1"},
        {"Name": "Received", "Value": "by mx2"},
        {"Name": "Message-ID", "Value": "<CAF12345abc@mail.gmail.com>"},
        {"Name": "In-Reply-To", "Value": "<n-42.send-7@nurture.example>"},
        {"Name": "References", "Value": "<first@a.example>\r\n <n-42.send-7@nurture.example>"},
    ]

    email = parse_inbound(_payload(Headers=headers))

    assert email.message_id == "<CAF12345abc@mail.gmail.com>"
    assert email.in_reply_to == "<n-42.send-7@nurture.example>"
    assert email.references == ("<first@a.example>", "<n-42.send-7@nurture.example>")
    assert email.headers["received"] == "by mx1"
    assert set(email.headers) == {"received", "message-id", "in-reply-to", "references"}


def test_an_in_reply_to_without_brackets_gets_them() -> None:
    email = parse_inbound(_payload(Headers=[{"Name": "In-Reply-To", "Value": " n-42@nurture.example "}]))
    assert email.in_reply_to == "<n-42@nurture.example>"


@pytest.mark.parametrize("stripped", ["", "  \n", None])
def test_the_whole_text_body_when_postmark_could_not_strip_the_reply(stripped: str | None) -> None:
    # None: the field left out altogether.
    assert parse_inbound(_payload(StrippedTextReply=stripped)).text == "This is a test text body."


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"Name": "Auto-Submitted", "Value": "auto-replied"}, "Auto-Submitted: auto-replied"),
        ({"Name": "Precedence", "Value": "bulk"}, "Precedence: bulk"),
        ({"Name": "Return-Path", "Value": "<>"}, "empty Return-Path (a delivery report)"),
    ],
)
def test_a_machine_written_email_is_seen_from_its_headers(header: dict[str, str], reason: str) -> None:
    assert parse_inbound(_payload(Headers=[header])).automatic == reason


def test_the_sender_falls_back_to_from() -> None:
    legacy = _payload(FromFull=None, From='"Ann Lee" <ann@example.com>')
    assert (parse_inbound(legacy).from_email, parse_inbound(legacy).from_name) == (
        "ann@example.com",
        "Ann Lee",
    )
    blank = _payload(FromFull={"Email": "", "Name": "Ann"}, From="ann@example.com")
    assert (parse_inbound(blank).from_email, parse_inbound(blank).from_name) == ("ann@example.com", "Ann")


def test_to_and_cc_fall_back_to_the_written_lists_and_may_be_empty() -> None:
    email = parse_inbound(_payload(ToFull=None, To='"A" <a@x.io>, b@x.io', CcFull=[], Cc=""))
    assert email.to == ("a@x.io", "b@x.io") and email.cc == ()


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Thu, 5 Nov 2026 16:33:54 -0500", datetime(2026, 11, 5, 21, 33, 54, tzinfo=UTC)),
        ("Thu, 5 Nov 2026 16:33:54 -0000", datetime(2026, 11, 5, 16, 33, 54, tzinfo=UTC)),
        ("2026-11-05T16:33:54+01:00", datetime(2026, 11, 5, 15, 33, 54, tzinfo=UTC)),
        ("", None),
        ("sometime last week", None),
    ],
)
def test_dates_as_sending_servers_write_them(date: str, expected: datetime | None) -> None:
    received_at = parse_inbound(_payload(Date=date)).received_at
    assert received_at == expected
    assert received_at is None or received_at.tzinfo is not None


def test_empty_optional_fields_read_as_absent() -> None:
    email = parse_inbound(_payload(HtmlBody="", MailboxHash="", Headers=None, Date=None, Subject=None))
    assert (email.html, email.mailbox_hash, email.received_at, email.subject) == (None, None, None, "")
    assert email.headers == {}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"FromFull": None, "From": None}, "FromFull.Email: missing"),
        ({"FromFull": {"Name": "No address"}, "From": ""}, "FromFull.Email: missing"),
        (
            {"FromFull": {"Email": "support at postmark"}},
            "FromFull.Email: not an email address: 'support at postmark'",
        ),
        ({"FromFull": "support@postmarkapp.com"}, "FromFull: expected an object"),
        ({"FromFull": {"Email": "a@x.io", "Name": 7}}, "FromFull.Name: expected a string, got int"),
        ({"ToFull": {"Email": "a@x.io"}}, "ToFull: expected a list"),
        ({"ToFull": ["a@x.io"]}, "ToFull[0]: expected an object"),
        ({"CcFull": [{"Email": "a@x.io"}, {"Name": "B"}]}, "CcFull[1].Email: missing"),
        ({"Headers": {"Message-ID": "<a@b>"}}, "Headers: expected a list of {Name, Value}"),
        ({"Headers": [{"Name": "A", "Value": "1"}, {"Value": "2"}]}, "Headers[1].Name: missing"),
        ({"Headers": [{"Name": "A", "Value": 1}]}, "Headers[0].Value: expected a string, got int"),
        ({"Subject": ["Test"]}, "Subject: expected a string, got list"),
        ({"Date": 1407000000}, "Date: expected a string, got int"),
        ({"MailboxHash": 12345}, "MailboxHash: expected a string, got int"),
    ],
)
def test_a_missing_or_odd_field_is_named(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(PostmarkInboundError) as refused:
        parse_inbound(_payload(**changes))

    assert str(refused.value) == message
    assert isinstance(refused.value, ValueError)
    assert refused.value.field == message.split(":")[0]


def test_a_body_that_is_not_an_object() -> None:
    with pytest.raises(PostmarkInboundError, match=r"^body: expected a JSON object$"):
        parse_inbound([DOCS_EXAMPLE])  # type: ignore[arg-type]
