"""Received email: the inbound webhook posted with basic auth to a real receiver, and read back."""

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from nurture.email.postmark_inbound import parse_inbound
from nurture.postmark_server import RunningServer, run_in_thread
from tests.nurture.postmark_server.conftest import Receiver

BASIC = "Basic " + base64.b64encode(b"postmark:s3cret").decode()
# Every field of the documented example (postmarkapp.com/developer/webhooks/inbound-webhook).
DOCUMENTED_FIELDS = {
    "FromName", "MessageStream", "From", "FromFull", "To", "ToFull", "Cc", "CcFull", "Bcc", "BccFull",
    "OriginalRecipient", "Subject", "MessageID", "ReplyTo", "MailboxHash", "Date", "TextBody", "HtmlBody",
    "StrippedTextReply", "Tag", "Headers", "Attachments",
}  # fmt: skip
REPLY = {
    "from": "Ann Lee <ann@example.com>",
    "to": "reply+t0k3n@inbound.nurture.test",
    "cc": ["Bob <bob@example.com>"],
    "subject": "Re: Your quote",
    "text": "Sounds good, let's go ahead.\n\nOn Mon, 4 May 2026 at 09:00, Sam wrote:\n> Here is the quote.\n",
    "html": "<p>Sounds good, let's go ahead.</p><blockquote>Here is the quote.</blockquote>",
    "headers": {
        "In-Reply-To": "<n-42.send-7@nurture.example>",
        "References": "<n-41@nurture.example> <n-42.send-7@nurture.example>",
    },
}


def _inbound_url(receiver: Receiver, *, credentials: str = "") -> str:
    # The receiver's own address, at the path Nurture's inbound route has, perhaps with userinfo.
    netloc = urlsplit(receiver.url).netloc
    return f"http://{credentials}{netloc}/webhooks/postmark/inbound"


def _receive(server: RunningServer, body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/__local/inbound", json=body, timeout=15)


def test_a_reply_is_posted_with_basic_auth_and_reads_back(
    postmark_server: RunningServer, receiver: Receiver
) -> None:
    settings = {"url": _inbound_url(receiver, credentials="postmark:s3cret@")}
    configured = httpx.put(f"{postmark_server.url}/__local/webhooks/inbound", json=settings)
    assert configured.json() == {"url": _inbound_url(receiver), "username": "postmark"}, "no password shown"

    answer = _receive(postmark_server, REPLY)

    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["status"], result["error"], result["postmark_would_retry"]) == (200, None, False)
    assert result["url"] == _inbound_url(receiver)
    [(path, authorization, payload)] = receiver.received
    assert path == "/webhooks/postmark/inbound" and authorization == BASIC
    assert payload == result["posted"]
    assert set(payload) == DOCUMENTED_FIELDS
    assert payload["MailboxHash"] == "t0k3n" and payload["OriginalRecipient"] == REPLY["to"]
    assert payload["FromFull"] == {"Email": "ann@example.com", "Name": "Ann Lee", "MailboxHash": ""}
    assert payload["ToFull"] == [{"Email": REPLY["to"], "Name": "", "MailboxHash": "t0k3n"}]
    assert payload["Cc"] == '"Bob" <bob@example.com>'
    assert payload["StrippedTextReply"] == "Sounds good, let's go ahead."

    email = parse_inbound(payload)

    assert (email.from_email, email.from_name) == ("ann@example.com", "Ann Lee")
    assert email.subject == "Re: Your quote"
    assert email.text == "Sounds good, let's go ahead."
    assert email.html == REPLY["html"]
    assert email.in_reply_to == "<n-42.send-7@nurture.example>"
    assert email.references == ("<n-41@nurture.example>", "<n-42.send-7@nurture.example>")
    assert email.mailbox_hash == "t0k3n"
    assert email.to == ("reply+t0k3n@inbound.nurture.test",) and email.cc == ("bob@example.com",)
    assert email.message_id is not None and email.message_id.startswith("<")
    assert payload["MessageID"] not in email.message_id, "Postmark's own ID is not the Message-ID header"
    assert email.received_at is not None
    assert abs(email.received_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert email.automatic is None


def test_credentials_given_apart_and_each_email_gets_a_fresh_message_id(
    postmark_server: RunningServer, receiver: Receiver
) -> None:
    postmark_server.configure_inbound_webhook(url=_inbound_url(receiver), auth=("postmark", "s3cret"))
    first = _receive(postmark_server, {"from": "ann@example.com", "to": "reply+a@in.test", "text": "hi"})
    second = _receive(postmark_server, {"from": "ann@example.com", "to": "in@in.test", "text": "hi"})

    assert [auth for _, auth, _ in receiver.received] == [BASIC, BASIC]
    ids = {first.json()["posted"]["MessageID"], second.json()["posted"]["MessageID"]}
    assert len(ids) == 2
    assert second.json()["posted"]["MailboxHash"] == "", "no + part, no hash"
    # Not a reply (no In-Reply-To or References): Postmark strips nothing, the text body is read.
    assert first.json()["posted"]["StrippedTextReply"] == ""
    assert parse_inbound(first.json()["posted"]).text == "hi"


def test_an_automatic_reply_and_headers_that_replace_the_defaults(
    postmark_server: RunningServer, receiver: Receiver
) -> None:
    postmark_server.configure_inbound_webhook(url=_inbound_url(receiver))
    headers = {
        "Auto-Submitted": "auto-replied",
        "Message-ID": "<ooo-1@mail.example.com>",
        "Date": "Thu, 5 Nov 2026 16:33:54 -0500",
        "Reply-To": "assistant@example.com",
    }
    body = {
        "from": "ann@example.com",
        "to": "reply+t@in.test",
        "subject": "Out of office",
        "headers": headers,
    }

    posted = _receive(postmark_server, body).json()["posted"]

    assert [h["Value"] for h in posted["Headers"] if h["Name"].lower() == "message-id"] == [
        "<ooo-1@mail.example.com>"
    ]
    assert posted["Date"] == "Thu, 5 Nov 2026 16:33:54 -0500" and posted["ReplyTo"] == "assistant@example.com"
    email = parse_inbound(receiver.received[0][2])
    assert email.automatic == "Auto-Submitted: auto-replied"
    assert email.message_id == "<ooo-1@mail.example.com>"
    assert email.received_at == datetime(2026, 11, 5, 21, 33, 54, tzinfo=UTC)


@pytest.mark.parametrize(("status", "would_retry"), [(500, True), (204, True), (403, False)])
def test_a_refusing_receiver_is_reported_and_posted_to_once(
    postmark_server: RunningServer, receiver: Receiver, status: int, would_retry: bool
) -> None:
    postmark_server.configure_inbound_webhook(url=_inbound_url(receiver))
    receiver.status = status

    result = _receive(postmark_server, {"from": "ann@example.com", "to": "in@in.test"}).json()

    assert (result["status"], result["error"], result["postmark_would_retry"]) == (status, None, would_retry)
    assert len(receiver.received) == 1


def test_unreachable_or_unconfigured_receivers_are_reported(postmark_server: RunningServer) -> None:
    body = {"from": "ann@example.com", "to": "in@in.test"}
    unconfigured = _receive(postmark_server, body).json()
    assert unconfigured["status"] is None and unconfigured["error"] == "no inbound webhook URL configured"
    assert unconfigured["posted"]["From"] == "ann@example.com"

    postmark_server.configure_inbound_webhook(url="http://127.0.0.1:9/webhooks/postmark/inbound")
    unreachable = _receive(postmark_server, body).json()
    assert unreachable["status"] is None and "ConnectError" in unreachable["error"]
    assert unreachable["postmark_would_retry"] is True


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"to": "in@in.test"}, "from: missing"),
        ({"from": "ann", "to": "in@in.test"}, "from: not an email address: 'ann'"),
        ({"from": "a@x.io, b@x.io", "to": "in@in.test"}, "from: must be one address"),
        ({"from": "ann@example.com"}, "to: missing"),
        ({"from": "ann@example.com", "to": 7}, "to: must be an address or a list of addresses"),
        ({"from": "ann@example.com", "to": "in@in.test", "text": 7}, "text: must be a string"),
        ({"from": "ann@example.com", "to": "in@in.test", "headers": [["In-Reply-To", "<a@b>"]]}, "headers:"),
        ({"from": "ann@example.com", "to": "in@in.test", "bcc": "x@y.z"}, "bcc: unknown field"),
        ([], "body: expected a JSON object"),
    ],
)
def test_the_description_is_checked(postmark_server: RunningServer, body: object, detail: str) -> None:
    answer = _receive(postmark_server, body)
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith(detail)


def test_inbound_settings_are_checked_kept_apart_and_reset(
    postmark_server: RunningServer, receiver: Receiver
) -> None:
    url = f"{postmark_server.url}/__local/webhooks/inbound"
    assert httpx.put(url, json={"url": "ftp://x"}).json()["detail"].startswith("url:")
    both = {"url": _inbound_url(receiver, credentials="a:b@"), "username": "c", "password": "d"}
    assert httpx.put(url, json=both).json()["detail"].startswith("url, username:")
    assert httpx.put(url, json={"url": None, "token": "x"}).json()["detail"].startswith("token: unknown")
    assert httpx.get(url).json() == {"url": None, "username": None}

    configured = httpx.put(url, json={"url": _inbound_url(receiver), "username": "u", "password": "p"})
    assert configured.json() == {"url": _inbound_url(receiver), "username": "u"}
    renamed = httpx.put(url, json={"username": "v", "password": "q"}).json()
    assert renamed == {"url": _inbound_url(receiver), "username": "v"}, "omitted fields stay"
    assert httpx.get(f"{postmark_server.url}/__local/webhooks").json()["url"] is None, "other webhooks apart"

    httpx.post(f"{postmark_server.url}/__local/reset")
    assert httpx.get(url).json() == {"url": None, "username": None}


def test_a_server_started_with_an_inbound_url_posts_there(receiver: Receiver) -> None:
    # As Postmark's InboundHookUrl takes them: the credentials in the URL.
    url = _inbound_url(receiver, credentials="postmark:s3cret@")
    server = run_in_thread(server_token="t", inbound_webhook_url=url)
    try:
        server.reset()
        result = _receive(server, {"from": "ann@example.com", "to": "reply+x@in.test", "text": "Yes"}).json()
    finally:
        server.stop()
    assert result["status"] == 200 and result["url"] == _inbound_url(receiver), "the password is not reported"
    [(_, authorization, payload)] = receiver.received
    assert authorization == BASIC and parse_inbound(payload).mailbox_hash == "x"
