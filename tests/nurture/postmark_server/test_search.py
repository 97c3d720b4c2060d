"""Outbound message search and details, as Nurture's reconciliation calls them through postmarker."""

import pytest
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError


def _send(client: PostmarkClient, **fields: object) -> str:
    message = {"From": "Shop <shop@example.com>", "To": "a@example.com", "TextBody": "x", **fields}
    answer: str = client.emails.send(**message)["MessageID"]
    return answer


def _search(client: PostmarkClient, **params: object) -> dict:  # type: ignore[type-arg]
    return client.call("GET", "/messages/outbound", **{"count": 50, "offset": 0, **params})  # type: ignore[no-any-return]


def test_search_filters_by_metadata_stream_recipient_tag_and_status(client: PostmarkClient) -> None:
    first = _send(client, Metadata={"nurture_message_key": "k1"}, Tag="welcome")
    second = _send(
        client,
        To="b@example.com",
        Cc="a@example.com",
        Metadata={"nurture_message_key": "k2"},
        MessageStream="broadcast",
    )
    third = _send(
        client, To="c@example.com", Metadata={"nurture_message_key": "k1"}, MessageStream="broadcast"
    )

    def ids(**params: object) -> list[str]:
        found = _search(client, **params)
        assert found["TotalCount"] == len(found["Messages"])
        return [m["MessageID"] for m in found["Messages"]]

    assert ids() == [third, second, first], "newest first, every stream"
    assert ids(metadata_nurture_message_key="k1") == [third, first]
    assert ids(metadata_nurture_message_key="k1", messagestream="broadcast") == [third]
    assert ids(messagestream="outbound") == [first]
    assert ids(recipient="A@example.com") == [second, first], "To and Cc, any case"
    assert ids(tag="welcome") == [first]
    assert ids(status="sent") == [third, second, first] and ids(status="queued") == []
    assert ids(metadata_nurture_message_key="missing") == []
    [summary] = _search(client, metadata_nurture_message_key="k2")["Messages"]
    assert summary == {
        "MessageID": second,
        "To": [{"Email": "b@example.com", "Name": ""}],
        "Cc": [{"Email": "a@example.com", "Name": ""}],
        "Bcc": [],
        "Recipients": ["b@example.com", "a@example.com"],
        "ReceivedAt": summary["ReceivedAt"],
        "From": "Shop <shop@example.com>",
        "Subject": "",
        "Tag": "",
        "Metadata": {"nurture_message_key": "k2"},
        "MessageStream": "broadcast",
        "Status": "Sent",
        "TrackOpens": False,
        "TrackLinks": "None",
        "Attachments": [],
    }


def test_search_pages_with_count_and_offset(client: PostmarkClient) -> None:
    sent = [_send(client, Subject=str(i)) for i in range(5)]
    page = _search(client, count=2, offset=1)
    assert page["TotalCount"] == 5
    assert [m["MessageID"] for m in page["Messages"]] == [sent[3], sent[2]]
    # postmarker's own listing pages through the same endpoint.
    assert [m.MessageID for m in client.messages.outbound.all(count=5)] == sent[::-1]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"count": 501}, "'count'"),
        ({"count": 500, "offset": 9501}, "10000"),
        ({"count": "x"}, "'count'"),
        ({"metadata_a": "1", "metadata_b": "2"}, "one metadata"),
        ({"fromdate": "yesterday"}, "'fromdate'"),
    ],
)
def test_search_refuses_what_postmark_refuses(
    client: PostmarkClient, params: dict[str, object], named: str
) -> None:
    with pytest.raises(ClientError) as refused:
        _search(client, **params)
    assert refused.value.error_code == 300 and named in str(refused.value)


def test_search_requires_count_and_offset(client: PostmarkClient) -> None:
    with pytest.raises(ClientError, match="'offset'"):
        client.call("GET", "/messages/outbound", count=1)


def test_details_has_bodies_and_unknown_ids_get_701(client: PostmarkClient) -> None:
    message_id = _send(client, HtmlBody="<p>Hi</p>", TextBody="Hi", Subject="Hello")
    details = client.messages.outbound.get(message_id)
    with pytest.raises(ClientError) as missing:
        client.messages.outbound.get("00000000-0000-0000-0000-000000000000")

    assert details.HtmlBody == "<p>Hi</p>" and details.TextBody == "Hi" and details.MessageEvents == []
    assert "Subject: Hello" in details.Body
    assert missing.value.error_code == 701 and str(missing.value) == "[701] This message was not found."
    assert missing.value.__cause__.response.status_code == 422  # type: ignore[union-attr]
