"""Webhooks in Postmark's documented shapes, posted with basic auth to a real HTTP receiver."""

import base64
import json

import httpx
import pytest
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError

from nurture.postmark_server import RunningServer
from tests.nurture.postmark_server.conftest import Receiver

AUTH = ("postmark", "s3cret")
BASIC = "Basic " + base64.b64encode(b"postmark:s3cret").decode()


def _sent(client: PostmarkClient) -> str:
    answer = client.emails.send(
        From="Shop <shop@example.com>",
        To="ann@example.com",
        Subject="Spring sale",
        HtmlBody='<p><a href="https://shop.example/sale">Sale</a></p>',
        Tag="spring",
        Metadata={"nurture_message_key": "k-7"},
        MessageStream="broadcast",
    )
    message_id: str = answer["MessageID"]
    return message_id


def _fire(server: RunningServer, message_id: str, **body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/__local/messages/{message_id}/events", json=body, timeout=15)


COMMON = {
    "MessageStream": "broadcast",
    "Tag": "spring",
    "Metadata": {"nurture_message_key": "k-7"},
    "ServerID": 1,
}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("Delivery", {"Recipient": "ann@example.com", "DeliveredAt": str, "Details": str}),
        (
            "Open",
            {"Recipient": "ann@example.com", "FirstOpen": True, "ReceivedAt": str, "Platform": "WebMail"},
        ),
        (
            "Click",
            {
                "Recipient": "ann@example.com",
                "OriginalLink": "https://shop.example/sale",
                "ClickLocation": "HTML",
            },
        ),
        (
            "Bounce",
            {
                "Email": "ann@example.com",
                "Type": "HardBounce",
                "TypeCode": 1,
                "Inactive": True,
                "BouncedAt": str,
            },
        ),
        (
            "SpamComplaint",
            {"Email": "ann@example.com", "Type": "SpamComplaint", "From": "Shop <shop@example.com>"},
        ),
        ("SubscriptionChange", {"Recipient": "ann@example.com", "SuppressSending": True, "ChangedAt": str}),
    ],
)
def test_each_event_posts_its_documented_shape_with_basic_auth(
    client: PostmarkClient,
    postmark_server: RunningServer,
    receiver: Receiver,
    kind: str,
    expected: dict[str, object],
) -> None:
    postmark_server.configure_webhooks(url=receiver.url, auth=AUTH)
    message_id = _sent(client)
    receiver.status = 204

    answer = _fire(postmark_server, message_id, type=kind, link="https://shop.example/sale")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == 204 and answer.json()["error"] is None
    [(path, authorization, payload)] = receiver.received
    assert path == "/webhooks/postmark" and authorization == BASIC
    assert payload == answer.json()["posted"]
    assert payload["RecordType"] == kind and payload["MessageID"] == message_id
    for key, value in {**COMMON, **expected}.items():
        assert isinstance(payload[key], str) if value is str else payload[key] == value, key


def test_bounce_ids_stay_exact_int64_and_deactivate_the_recipient(
    client: PostmarkClient, postmark_server: RunningServer, receiver: Receiver
) -> None:
    postmark_server.configure_webhooks(url=receiver.url, auth=AUTH)
    message_id = _sent(client)
    posted = _fire(postmark_server, message_id, type="Bounce").json()["posted"]
    assert posted["ID"] > 2**53
    assert json.loads(json.dumps(receiver.received[0][2]))["ID"] == posted["ID"]
    with pytest.raises(ClientError) as refused:
        _sent(client)
    assert refused.value.error_code == 406
    details = client.messages.outbound.get(message_id)
    assert [(e["Type"], e["Recipient"]) for e in details.MessageEvents] == [("Bounced", "ann@example.com")]


def test_only_the_first_open_is_first(
    client: PostmarkClient, postmark_server: RunningServer, receiver: Receiver
) -> None:
    postmark_server.configure_webhooks(url=receiver.url)
    message_id = _sent(client)
    opens = [_fire(postmark_server, message_id, type="Open").json()["posted"]["FirstOpen"] for _ in range(2)]
    assert opens == [True, False]
    assert receiver.received[0][1] is None, "no credentials configured, no Authorization header"


def test_a_failing_target_is_reported_and_never_breaks_sending(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    postmark_server.configure_webhooks(
        url="http://127.0.0.1:9/webhooks/postmark", auto_delivery=True, delay=0
    )
    message_id = _sent(client)
    answer = _fire(postmark_server, message_id, type="Open").json()
    assert answer["status"] is None and "ConnectError" in answer["error"]
    assert client.emails.send(From="a@example.com", To="b@example.com", TextBody="x")["ErrorCode"] == 0


def test_events_endpoint_checks_its_input(client: PostmarkClient, postmark_server: RunningServer) -> None:
    message_id = _sent(client)
    assert _fire(postmark_server, message_id, type="Read").json()["detail"].startswith("type:")
    assert _fire(postmark_server, message_id, type="Open", recipient="x@example.com").status_code == 422
    assert _fire(postmark_server, "no-such-id", type="Open").status_code == 404
    unconfigured = _fire(postmark_server, message_id, type="Open").json()
    assert unconfigured["status"] is None and unconfigured["error"] == "no webhook URL configured"


def test_automatic_delivery_after_each_accepted_send(
    client: PostmarkClient, postmark_server: RunningServer, receiver: Receiver
) -> None:
    settings = {
        "url": receiver.url,
        "username": "postmark",
        "password": "s3cret",
        "auto_delivery": True,
        "delay": 0,
    }
    configured = httpx.put(f"{postmark_server.url}/__local/webhooks", json=settings).json()
    assert configured == {"url": receiver.url, "username": "postmark", "auto_delivery": True, "delay": 0.0}

    results = client.emails.send_batch(
        {"From": "a@example.com", "To": "one@example.com", "Cc": "two@example.com", "TextBody": "x"},
        {"From": "a@example.com", "To": "three@example.com", "TextBody": "x"},
    )

    assert receiver.arrived.wait(5)
    for _ in range(100):
        if len(receiver.received) == 3:
            break
        receiver.arrived.clear()
        receiver.arrived.wait(0.05)
    delivered = sorted((p["MessageID"], p["Recipient"]) for _, _, p in receiver.received)
    assert delivered == sorted(
        [
            (results[0]["MessageID"], "one@example.com"),
            (results[0]["MessageID"], "two@example.com"),
            (results[1]["MessageID"], "three@example.com"),
        ]
    )
    assert {p["RecordType"] for _, _, p in receiver.received} == {"Delivery"}
    assert all(auth == BASIC for _, auth, _ in receiver.received)


def test_webhook_settings_are_checked(postmark_server: RunningServer) -> None:
    refused = httpx.put(f"{postmark_server.url}/__local/webhooks", json={"url": "ftp://x"})
    assert refused.status_code == 422 and refused.json()["detail"].startswith("url:")
    assert httpx.get(f"{postmark_server.url}/__local/webhooks").json()["url"] is None
