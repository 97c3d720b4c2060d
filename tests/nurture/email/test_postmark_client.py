"""postmarker's client with bodies encoded by orjson, against the local Postmark server."""

import json

from nurture.email.postmark_client import JsonPostmarkClient, encode_json
from nurture.postmark_server import RunningServer


def test_a_body_is_utf8_json_that_reads_back_as_what_was_sent() -> None:
    data = {"Subject": 'Café ✓ "quoted" \\ \n', "Metadata": {"nurture-key": "k"}, "TrackOpens": False}
    body = encode_json(data)
    assert "Café ✓".encode() in body  # UTF-8, not \\u escapes
    assert json.loads(body) == data


def test_emails_sent_with_the_client_arrive_as_written(postmark_server: RunningServer) -> None:
    client = JsonPostmarkClient(
        server_token=postmark_server.server_token, root_api_url=postmark_server.url + "/"
    )
    subjects = ["Café ✓ für Zoë", 'Quotes " and \\ backslashes', "日本語の件名"]
    answers = client.emails.send_batch(
        *(
            {"From": "hello@example.com", "To": f"r{n}@example.com", "Subject": subject, "TextBody": subject}
            for n, subject in enumerate(subjects)
        )
    )
    assert [answer["ErrorCode"] for answer in answers] == [0, 0, 0]
    kept = {message["To"][0]["Email"]: message["Subject"] for message in postmark_server.messages()}
    assert kept == {f"r{n}@example.com": subject for n, subject in enumerate(subjects)}
    # A call with no body (a search) goes out as postmarker sends it.
    found = client.call("GET", "/messages/outbound", count=10, offset=0)
    assert found["TotalCount"] == 3
