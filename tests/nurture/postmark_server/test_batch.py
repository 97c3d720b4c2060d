"""/email/batch as Postmark documents it: 200 with one ordered result per message, a suppressed
recipient refused alone, 410 for more than 500, and faults that fail the whole call."""

from pathlib import Path

import pytest
import requests
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError

from nurture.postmark_server import RunningServer
from nurture.postmark_server.store import Store
from nurture.postmark_server.validation import validate_email

MESSAGE = {"From": "hello@example.com", "TextBody": "news", "MessageStream": "broadcast"}


def _batch(count: int) -> list[dict]:
    return [{**MESSAGE, "To": f"reader{n}@example.com", "Metadata": {"n": str(n)}} for n in range(count)]


def test_a_suppressed_recipient_gets_its_own_406_and_the_others_are_accepted(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    postmark_server.state.store.suppress(
        "broadcast", "reader1@example.com", reason="HardBounce", origin="Recipient"
    )
    results = client.emails.send_batch(*_batch(3))

    assert [r["ErrorCode"] for r in results] == [0, 406, 0]
    assert "Found inactive addresses: reader1@example.com." in results[1]["Message"]
    assert "MessageID" not in results[1]
    kept = {m["MessageID"]: m["To"][0]["Email"] for m in postmark_server.messages()}
    assert kept == {
        results[0]["MessageID"]: "reader0@example.com",
        results[2]["MessageID"]: "reader2@example.com",
    }


def test_a_suppression_on_another_stream_does_not_refuse(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    postmark_server.state.store.suppress(
        "outbound", "reader0@example.com", reason="HardBounce", origin="Recipient"
    )
    [result] = client.emails.send_batch(*_batch(1))
    assert result["ErrorCode"] == 0


def test_500_messages_are_accepted_and_501_get_410_and_nothing_is_kept(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    results = client.call("POST", "/email/batch", data=_batch(500))
    assert len(results) == 500 and {r["ErrorCode"] for r in results} == {0}
    postmark_server.state.store.clear_messages()

    with pytest.raises(ClientError) as refused:
        client.call("POST", "/email/batch", data=_batch(501))
    assert refused.value.error_code == 410
    assert refused.value.__cause__.response.status_code == 422  # type: ignore[union-attr]
    assert postmark_server.messages() == []


@pytest.mark.parametrize(("fault", "status"), [("429", 429), ("500", 500), ("503", 503)])
def test_a_fault_fails_the_whole_batch_and_keeps_nothing(
    client: PostmarkClient, postmark_server: RunningServer, fault: str, status: int
) -> None:
    postmark_server.add_fault(fault, path="/email/batch")  # type: ignore[arg-type]
    with pytest.raises((ClientError, requests.HTTPError)) as failed:
        client.emails.send_batch(*_batch(3))
    response = (
        failed.value.__cause__.response if isinstance(failed.value, ClientError) else failed.value.response
    )  # type: ignore[union-attr]
    assert response is not None and response.status_code == status
    assert postmark_server.messages() == []


def test_accept_then_500_keeps_every_message_of_the_batch(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    postmark_server.add_fault("accept_then_500", path="/email/batch")
    with pytest.raises(requests.HTTPError):
        client.emails.send_batch(*_batch(3))
    assert len(postmark_server.messages()) == 3
    for n in range(3):
        assert len(postmark_server.messages(metadata_n=str(n))) == 1


def test_accept_then_hang_outlasts_the_timeout_but_keeps_the_batch(postmark_server: RunningServer) -> None:
    client = PostmarkClient(
        server_token=postmark_server.server_token, root_api_url=postmark_server.url + "/", timeout=0.5
    )
    postmark_server.add_fault("accept_then_hang", seconds=3, path="/email/batch")
    with pytest.raises(requests.Timeout):
        client.emails.send_batch(*_batch(2))
    assert len(postmark_server.messages()) == 2


def test_the_test_token_validates_a_batch_without_keeping_it(postmark_server: RunningServer) -> None:
    client = PostmarkClient(
        server_token="POSTMARK_API_TEST", root_api_url=postmark_server.url + "/", timeout=5
    )
    results = client.emails.send_batch(*_batch(2), {**MESSAGE, "To": "not-an-address"})
    assert [r["ErrorCode"] for r in results] == [0, 0, 300]
    assert {r["Message"] for r in results[:2]} == {"Test job accepted"}
    assert postmark_server.messages() == []


def test_a_batch_is_kept_across_a_restart_when_the_server_keeps_a_file(tmp_path: Path) -> None:
    path = tmp_path / "postmark.json"
    emails = [validate_email(message, streams=None) for message in _batch(3)]
    kept = Store(path).add_many(emails)
    assert [m.message_id for m in reversed(Store(path).messages())] == [m.message_id for m in kept]
