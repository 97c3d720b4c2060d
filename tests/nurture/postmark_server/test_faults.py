"""Faults queued over the control API, as Nurture's provider and reconciliation meet them."""

import time

import httpx
import pytest
import requests
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError

from nurture.postmark_server import RunningServer

MESSAGE = {"From": "hello@example.com", "To": "a@example.com", "TextBody": "x"}


def _fault(server: RunningServer, **fault: object) -> httpx.Response:
    return httpx.post(f"{server.url}/__local/faults", json=fault)


def test_429_surfaces_as_client_error_and_applies_to_the_next_n_sends(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    assert _fault(postmark_server, kind="429", count=2).status_code == 201
    for _ in range(2):
        with pytest.raises(ClientError) as limited:
            client.emails.send(**MESSAGE)
        assert limited.value.error_code == 429
        assert limited.value.__cause__.response.status_code == 429  # type: ignore[union-attr]
    client.emails.send(**MESSAGE)
    assert len(postmark_server.messages()) == 1
    assert httpx.get(f"{postmark_server.url}/__local/faults").json() == {"faults": []}


@pytest.mark.parametrize("status", [500, 503])
def test_500_and_503_surface_as_http_errors_and_send_nothing(
    client: PostmarkClient, postmark_server: RunningServer, status: int
) -> None:
    _fault(postmark_server, kind=str(status))
    with pytest.raises(requests.HTTPError) as failed:
        client.emails.send_batch(MESSAGE)
    assert failed.value.response is not None and failed.value.response.status_code == status
    assert postmark_server.messages() == []


def test_a_fault_with_a_path_hits_only_that_path(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    _fault(postmark_server, kind="503", path="/messages/outbound")
    client.emails.send(**MESSAGE)
    with pytest.raises(requests.HTTPError):
        client.call("GET", "/messages/outbound", count=1, offset=0)
    assert client.call("GET", "/messages/outbound", count=1, offset=0)["TotalCount"] == 1


def test_accept_then_500_keeps_the_message_findable_by_metadata(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    _fault(postmark_server, kind="accept_then_500")
    with pytest.raises(requests.HTTPError) as failed:
        client.emails.send(**MESSAGE, Metadata={"nurture_message_key": "crash-1"})
    assert failed.value.response is not None and failed.value.response.status_code == 500

    found = client.call(
        "GET", "/messages/outbound", count=1, offset=0, metadata_nurture_message_key="crash-1"
    )
    assert found["TotalCount"] == 1 and found["Messages"][0]["Recipients"] == ["a@example.com"]


def test_accept_then_hang_outlasts_the_client_timeout_but_keeps_the_message(
    postmark_server: RunningServer,
) -> None:
    client = PostmarkClient(
        server_token=postmark_server.server_token, root_api_url=postmark_server.url + "/", timeout=0.5
    )
    _fault(postmark_server, kind="accept_then_hang", seconds=3)
    with pytest.raises(requests.Timeout):
        client.emails.send(**MESSAGE, Metadata={"nurture_message_key": "hang-1"})
    assert len(postmark_server.messages(metadata_nurture_message_key="hang-1")) == 1


def test_delay_answers_late_enough_for_a_timeout(postmark_server: RunningServer) -> None:
    client = PostmarkClient(
        server_token=postmark_server.server_token, root_api_url=postmark_server.url + "/", timeout=0.3
    )
    _fault(postmark_server, kind="delay", seconds=1)
    with pytest.raises(requests.Timeout):  # the answer came later than the client's 0.3 s
        client.emails.send(**MESSAGE)
    _fault(postmark_server, kind="delay", seconds=0.4)
    slow = PostmarkClient(
        server_token=postmark_server.server_token, root_api_url=postmark_server.url + "/", timeout=5
    )
    started = time.monotonic()
    assert slow.emails.send(**MESSAGE)["ErrorCode"] == 0
    assert time.monotonic() - started >= 0.4


def test_html_403_surfaces_as_http_error_without_error_code(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    _fault(postmark_server, kind="403_html")
    with pytest.raises(requests.HTTPError) as blocked:
        client.emails.send(**MESSAGE)
    response = blocked.value.response
    assert response is not None and response.status_code == 403 and "<html>" in response.text


def test_faults_can_be_listed_cleared_and_are_checked(
    postmark_server: RunningServer, client: PostmarkClient
) -> None:
    _fault(postmark_server, kind="500", count=3, path="/email/batch")
    listed = httpx.get(f"{postmark_server.url}/__local/faults").json()["faults"]
    assert listed == [{"kind": "500", "remaining": 3, "path": "/email/batch", "seconds": 0.0}]
    assert httpx.delete(f"{postmark_server.url}/__local/faults").json() == {"faults": []}
    client.emails.send_batch(MESSAGE)
    refused = _fault(postmark_server, kind="418")
    assert refused.status_code == 422 and refused.json()["detail"].startswith("kind:")
    assert _fault(postmark_server, kind="500", count=0).json()["detail"].startswith("count:")


def test_clearing_messages_over_http(client: PostmarkClient, postmark_server: RunningServer) -> None:
    client.emails.send(**MESSAGE)
    assert httpx.delete(f"{postmark_server.url}/__local/messages").status_code == 200
    assert httpx.get(f"{postmark_server.url}/__local/messages").json() == []
