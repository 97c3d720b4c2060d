"""Search lag: accepted messages reach outbound search and details only after a delay, as on Postmark."""

import time

import httpx
import pytest
import requests
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError

from nurture.postmark_server import RunningServer, run_in_thread

MESSAGE = {"From": "shop@example.com", "To": "a@example.com", "TextBody": "x", "Subject": "Lagging"}


def _by_key(client: PostmarkClient, key: str) -> list[str]:
    found = client.call("GET", "/messages/outbound", count=50, offset=0, metadata_nurture_message_key=key)
    assert found["TotalCount"] == len(found["Messages"])
    return [m["MessageID"] for m in found["Messages"]]


def _unknown(client: PostmarkClient, message_id: str) -> bool:
    try:
        client.messages.outbound.get(message_id)
    except ClientError as exc:
        assert exc.error_code == 701
        return True
    return False


def _settings(server: RunningServer, **body: object) -> httpx.Response:
    if body:
        return httpx.put(f"{server.url}/__local/settings", json=body)
    return httpx.get(f"{server.url}/__local/settings")


def test_a_message_is_searchable_only_after_the_lag_but_received_at_once(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    postmark_server.set_search_lag(1)
    started = time.monotonic()
    message_id = client.emails.send(**MESSAGE, Metadata={"nurture_message_key": "lag-1"})["MessageID"]

    assert _by_key(client, "lag-1") == [] and _unknown(client, message_id)
    assert client.call("GET", "/messages/outbound", count=50, offset=0)["TotalCount"] == 0
    assert [m["MessageID"] for m in postmark_server.messages()] == [message_id]
    listed = httpx.get(f"{postmark_server.url}/__local/messages").json()
    assert [m["MessageID"] for m in listed] == [message_id]
    assert httpx.get(f"{postmark_server.url}/__local/messages/{message_id}").status_code == 200
    assert "Lagging" in httpx.get(f"{postmark_server.url}/").text

    while not _by_key(client, "lag-1"):
        assert time.monotonic() - started < 5, "never indexed"
        time.sleep(0.05)
    assert time.monotonic() - started >= 0.95, "found before the lag was over"
    assert _by_key(client, "lag-1") == [message_id]
    assert client.messages.outbound.get(message_id).MessageID == message_id


def test_a_crash_after_accepting_leaves_a_window_where_search_misses_the_sent_message(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    # The window the research warns about: reconciliation that searches too early sends twice.
    postmark_server.set_search_lag(60)
    httpx.post(f"{postmark_server.url}/__local/faults", json={"kind": "accept_then_500"})
    with pytest.raises(requests.HTTPError):
        client.emails.send(**MESSAGE, Metadata={"nurture_message_key": "crash-lag"})

    assert _by_key(client, "crash-lag") == []
    assert len(postmark_server.messages(metadata_nurture_message_key="crash-lag")) == 1


def test_the_control_api_sets_the_lag_for_messages_already_accepted(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    assert _settings(postmark_server).json() == {"search_lag": 0.0}
    assert _settings(postmark_server, search_lag=60).json() == {"search_lag": 60.0}
    message_id = client.emails.send(**MESSAGE, Metadata={"nurture_message_key": "lag-2"})["MessageID"]
    assert _by_key(client, "lag-2") == [] and _unknown(client, message_id)

    assert _settings(postmark_server, search_lag=0).json() == {"search_lag": 0.0}
    assert _by_key(client, "lag-2") == [message_id] and not _unknown(client, message_id)
    assert _settings(postmark_server).json() == {"search_lag": 0.0}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"search_lag": -1}, "search_lag:"),
        ({"search_lag": "2"}, "search_lag:"),
        ({"search_lag": True}, "search_lag:"),
        ({"search_lag": None}, "search_lag:"),
        ({"search_lag": 2, "lag": 1}, "lag: unknown setting"),
    ],
)
def test_the_control_api_refuses_bad_settings_and_changes_nothing(
    postmark_server: RunningServer, body: dict[str, object], named: str
) -> None:
    postmark_server.set_search_lag(5)
    refused = _settings(postmark_server, **body)
    assert refused.status_code == 422 and refused.json()["detail"].startswith(named)
    assert _settings(postmark_server).json() == {"search_lag": 5.0}
    assert httpx.put(f"{postmark_server.url}/__local/settings", content=b"[1]").status_code == 422


def test_set_search_lag_refuses_a_negative_lag(postmark_server: RunningServer) -> None:
    with pytest.raises(ValueError, match="search_lag"):
        postmark_server.set_search_lag(-0.5)
    assert postmark_server.state.search_lag == 0.0


def test_reset_clears_the_lag(client: PostmarkClient, postmark_server: RunningServer) -> None:
    postmark_server.set_search_lag(60)
    client.emails.send(**MESSAGE, Metadata={"nurture_message_key": "before-reset"})
    assert _by_key(client, "before-reset") == []

    assert httpx.post(f"{postmark_server.url}/__local/reset").status_code == 200
    assert _settings(postmark_server).json() == {"search_lag": 0.0}
    message_id = client.emails.send(**MESSAGE, Metadata={"nurture_message_key": "after-reset"})["MessageID"]
    assert _by_key(client, "after-reset") == [message_id]

    postmark_server.set_search_lag(60)
    postmark_server.reset()
    assert postmark_server.state.search_lag == 0.0


def test_a_server_started_with_a_lag_keeps_it_across_resets() -> None:
    server = run_in_thread(server_token="t", search_lag=30)
    try:
        client = PostmarkClient(server_token="t", root_api_url=server.url + "/", timeout=5)
        message_id = client.emails.send(**MESSAGE, Metadata={"nurture_message_key": "k"})["MessageID"]
        assert _by_key(client, "k") == [] and _settings(server).json() == {"search_lag": 30.0}
        server.set_search_lag(0)
        assert _by_key(client, "k") == [message_id]
        server.reset()
        assert _settings(server).json() == {"search_lag": 30.0}
    finally:
        server.stop()
    with pytest.raises(ValueError, match="search_lag"):
        run_in_thread(server_token="t", search_lag=-1)
