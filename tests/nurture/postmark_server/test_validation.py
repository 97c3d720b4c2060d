"""What Postmark refuses: missing fields, too many recipients, big batches, bad JSON, inactive recipients."""

import time
from typing import Any

import httpx
import pytest
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError

from nurture.postmark_server import RunningServer

GOOD = {"From": "hello@example.com", "To": "a@example.com", "TextBody": "x"}


def _post(server: RunningServer, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"X-Postmark-Server-Token": server.server_token}
    return httpx.post(f"{server.url}{path}", headers=headers, **kwargs)


def test_51_recipients_across_to_cc_and_bcc_get_300(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    to = [f"to{i}@example.com" for i in range(20)]
    cc = [f"cc{i}@example.com" for i in range(20)]
    bcc = [f"bcc{i}@example.com" for i in range(11)]
    with pytest.raises(ClientError) as refused:
        client.emails.send(From="hello@example.com", To=to, Cc=cc, Bcc=bcc, TextBody="x")
    assert refused.value.error_code == 300 and "51" in str(refused.value)
    assert refused.value.__cause__.response.status_code == 422  # type: ignore[union-attr]
    # Exactly 50 is fine.
    client.emails.send(From="hello@example.com", To=to, Cc=cc, Bcc=bcc[:-1], TextBody="x")
    assert len(postmark_server.messages()) == 1


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"From": None}, "'From'"),
        ({"To": None}, "'To'"),
        ({"To": "   "}, "'To'"),
        ({"Cc": "nobody"}, "'Cc'"),
        ({"TextBody": None, "HtmlBody": None}, "HtmlBody"),
        ({"TrackLinks": "Always"}, "'TrackLinks'"),
        ({"TrackOpens": "yes"}, "'TrackOpens'"),
        ({"Metadata": {"n": 1}}, "'Metadata'"),
        ({"Metadata": {"Key": "a", "key": "b"}}, "duplicate key"),
        ({"Metadata": "k=v"}, "'Metadata'"),
        ({"Headers": {"X-A": "b"}}, "'Headers'"),
        ({"Subject": 5}, "'Subject'"),
    ],
)
def test_an_invalid_message_gets_300_naming_the_field(
    postmark_server: RunningServer, change: dict[str, Any], named: str
) -> None:
    answer = _post(postmark_server, "/email", json={**GOOD, **change})
    assert answer.status_code == 422
    assert answer.json()["ErrorCode"] == 300 and named in answer.json()["Message"]
    assert postmark_server.messages() == []


def test_nulls_are_accepted_for_every_optional_field(postmark_server: RunningServer) -> None:
    optional = ["Cc", "Bcc", "Subject", "HtmlBody", "ReplyTo", "Headers", "TrackOpens", "TrackLinks"]
    optional += ["Metadata", "Tag", "Attachments", "MessageStream"]
    answer = _post(postmark_server, "/email", json={**GOOD, **dict.fromkeys(optional)})
    assert answer.status_code == 200, answer.text
    [kept] = postmark_server.messages()
    assert kept["MessageStream"] == "outbound" and kept["Metadata"] == {} and kept["Subject"] == ""


def test_an_unknown_stream_gets_1235(postmark_server: RunningServer) -> None:
    answer = _post(postmark_server, "/email", json={**GOOD, "MessageStream": "marketing"})
    assert answer.status_code == 422 and answer.json()["ErrorCode"] == 1235


def test_501_batch_messages_get_410_and_nothing_is_sent(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    answer = _post(postmark_server, "/email/batch", json=[GOOD] * 501)
    assert answer.status_code == 422 and answer.json()["ErrorCode"] == 410
    assert postmark_server.messages() == []
    # postmarker itself chunks by 500, so through it 501 messages arrive as two calls.
    assert len(client.emails.send_batch(*[GOOD] * 501)) == 501


@pytest.mark.parametrize(("body", "code"), [(b"{not json", 402), (b"", 409), (b"[1]", 300)])
def test_broken_json_gets_postmarks_codes(postmark_server: RunningServer, body: bytes, code: int) -> None:
    answer = _post(postmark_server, "/email", content=body)
    assert answer.status_code == 422 and answer.json()["ErrorCode"] == code


def test_a_suppressed_recipient_gets_406_on_that_stream_only(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    suppressed = client.call(
        "POST",
        "/message-streams/broadcast/suppressions",
        data={"Suppressions": [{"EmailAddress": "Gone@Example.com"}]},
    )
    assert suppressed["Suppressions"][0]["Status"] == "Suppressed"

    with pytest.raises(ClientError) as refused:
        client.emails.send(
            From="hello@example.com",
            To="ok@example.com, gone@example.com",
            TextBody="x",
            MessageStream="broadcast",
        )
    # The outbound stream is unaffected.
    client.emails.send(From="hello@example.com", To="gone@example.com", TextBody="x")

    assert refused.value.error_code == 406
    assert str(refused.value) == (
        "[406] You tried to send to recipient(s) that have been marked as inactive. "
        "Found inactive addresses: gone@example.com. "
        "Inactive recipients are ones that have generated a hard bounce, a spam complaint, "
        "or a manual suppression."
    )
    dump = client.call("GET", "/message-streams/broadcast/suppressions/dump")
    assert [(s["EmailAddress"], s["SuppressionReason"], s["Origin"]) for s in dump["Suppressions"]] == [
        ("Gone@Example.com", "ManualSuppression", "Customer")
    ]
    deleted = client.call(
        "POST",
        "/message-streams/broadcast/suppressions/delete",
        data={"Suppressions": [{"EmailAddress": "gone@example.com"}]},
    )
    assert deleted["Suppressions"][0]["Status"] == "Deleted"
    client.emails.send(
        From="hello@example.com", To="gone@example.com", TextBody="x", MessageStream="broadcast"
    )
    assert len(postmark_server.messages()) == 2


def test_the_hard_bounce_test_address_is_accepted_then_becomes_inactive(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    address = "hardbounce@bounce-testing.postmarkapp.com"
    sent = client.emails.send(From="hello@example.com", To=address, TextBody="x")
    assert sent["ErrorCode"] == 0
    deadline = time.monotonic() + 5
    while not client.call("GET", "/message-streams/outbound/suppressions/dump")["Suppressions"]:
        assert time.monotonic() < deadline, "the test address never bounced"
        time.sleep(0.05)
    with pytest.raises(ClientError) as refused:
        client.emails.send(From="hello@example.com", To=address, TextBody="x")
    assert refused.value.error_code == 406
    [message] = postmark_server.messages()
    assert [e["Type"] for e in message["MessageEvents"]] == ["Bounced"]


@pytest.mark.parametrize(
    "change",
    [
        {"From": "Evil <x@evil.example>\r\nBcc: y@z.com"},
        {"To": "a@example.com\nBcc: y@z.com"},
        {"Headers": [{"Name": "X-Note", "Value": "a\r\nBcc: y@z.com"}]},
    ],
)
def test_a_line_break_in_an_address_or_header_is_refused_and_nothing_stored(
    postmark_server: RunningServer, change: dict[str, Any]
) -> None:
    response = _post(postmark_server, "/email", json=GOOD | change)
    assert response.status_code == 422 and response.json()["ErrorCode"] == 300
    assert "line break" in response.json()["Message"]
    assert postmark_server.messages() == []
    assert httpx.get(f"{postmark_server.url}/__local/messages").status_code == 200
