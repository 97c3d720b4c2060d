"""Sending through postmarker's real client: single, batch, templates, test token, bad tokens."""

import uuid
from datetime import datetime

import httpx
import pytest
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError

from nurture.postmark_server import RunningServer


def test_send_is_accepted_in_postmarks_shape_and_kept_in_full(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    # postmarker sends every field; unset ones (Cc, Bcc, Tag, TrackOpens, ...) go as JSON null.
    answer = client.emails.send(
        From="Nurture <hello@example.com>",
        To="Ann <ann@example.com>, bob@example.com",
        Subject="Welcome",
        HtmlBody="<p>Hi</p>",
        TextBody="Hi",
        Metadata={"nurture_message_key": "k-1"},
        Headers={"X-Campaign": "spring"},
        MessageStream="broadcast",
    )

    assert answer["ErrorCode"] == 0 and answer["Message"] == "OK"
    assert answer["To"] == "Ann <ann@example.com>, bob@example.com"
    assert uuid.UUID(answer["MessageID"]).version == 4
    assert datetime.fromisoformat(answer["SubmittedAt"]).utcoffset() is not None
    [kept] = postmark_server.messages()
    assert kept["MessageID"] == answer["MessageID"]
    assert kept["To"] == [
        {"Email": "ann@example.com", "Name": "Ann"},
        {"Email": "bob@example.com", "Name": ""},
    ]
    assert kept["Headers"] == [{"Name": "X-Campaign", "Value": "spring"}]
    assert kept["Metadata"] == {"nurture_message_key": "k-1"}
    assert (
        kept["MessageStream"] == "broadcast" and kept["HtmlBody"] == "<p>Hi</p>" and kept["TextBody"] == "Hi"
    )
    assert kept["Tag"] == "" and kept["TrackOpens"] is False and kept["TrackLinks"] == "None"


def test_batch_answers_200_with_ordered_results_even_when_some_fail(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    good = {"From": "hello@example.com", "To": "a@example.com", "TextBody": "one"}
    results = client.emails.send_batch(
        good,
        {"From": "hello@example.com", "To": "not-an-address", "TextBody": "two"},
        {**good, "To": "c@example.com"},
        MessageStream="broadcast",
    )

    assert [r["ErrorCode"] for r in results] == [0, 300, 0]
    assert "'To'" in results[1]["Message"] and "not-an-address" in results[1]["Message"]
    assert [r["To"] for r in (results[0], results[2])] == ["a@example.com", "c@example.com"]
    kept = postmark_server.messages()
    assert [m["MessageID"] for m in kept] == [results[2]["MessageID"], results[0]["MessageID"]]
    assert {m["MessageStream"] for m in kept} == {"broadcast"}


@pytest.mark.parametrize("slash", ["", "/"])
def test_every_send_endpoint_takes_both_path_forms(postmark_server: RunningServer, slash: str) -> None:
    headers = {"X-Postmark-Server-Token": postmark_server.server_token}
    message = {"From": "hello@example.com", "To": "a@example.com", "TextBody": "x"}
    with httpx.Client(base_url=postmark_server.url, headers=headers) as http:
        created = http.post("/templates", json={"Name": "t", "Alias": "a", "Subject": "s", "TextBody": "b"})
        templated = {**message, "TemplateAlias": "a", "TemplateModel": {}}
        answers = [
            http.post(f"/email{slash}", json=message),
            http.post(f"/email/batch{slash}", json=[message]),
            http.post(f"/email/withTemplate{slash}", json=templated),
            http.post(f"/email/batchWithTemplates{slash}", json={"Messages": [templated]}),
        ]
    assert created.status_code == 200
    assert [a.status_code for a in answers] == [200] * 4
    assert len(postmark_server.messages()) == 4


def test_templates_render_the_model_and_unknown_templates_get_1101(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    template = client.templates.create(
        Name="Welcome",
        Alias="welcome",
        Subject="Hello {{name}}",
        HtmlBody="<p>Hi {{name}}, see {{{link}}}</p>",
        TextBody="Hi {{ name }} from {{company.name}}",
    )
    sent = client.emails.send_with_template(
        TemplateId=template.TemplateId,
        TemplateModel={
            "name": "<Ann>",
            "link": "<a href='https://x.example'>x</a>",
            "company": {"name": "Acme"},
        },
        From="hello@example.com",
        To="ann@example.com",
        Metadata={"k": "v"},
    )
    by_alias = client.emails.send_template_batch(
        {
            "TemplateAlias": "welcome",
            "TemplateModel": {"name": "Bo"},
            "From": "hello@example.com",
            "To": "b@x.io",
        },
        {"TemplateAlias": "missing", "TemplateModel": {}, "From": "hello@example.com", "To": "c@x.io"},
    )
    with pytest.raises(ClientError) as missing:
        client.emails.send_with_template(
            TemplateAlias="nope", TemplateModel={}, From="hello@example.com", To="ann@example.com"
        )

    assert sent["ErrorCode"] == 0
    assert [r["ErrorCode"] for r in by_alias] == [0, 1101]
    assert missing.value.error_code == 1101 and "Template not found" in str(missing.value)
    first = next(m for m in postmark_server.messages() if m["MessageID"] == sent["MessageID"])
    assert first["Subject"] == "Hello <Ann>"
    assert first["HtmlBody"] == "<p>Hi &lt;Ann&gt;, see <a href='https://x.example'>x</a></p>"
    assert first["TextBody"] == "Hi <Ann> from Acme"
    assert first["Template"]["TemplateAlias"] == "welcome" and first["Metadata"] == {"k": "v"}


def test_the_test_token_validates_without_keeping_anything(postmark_server: RunningServer) -> None:
    client = PostmarkClient(server_token="POSTMARK_API_TEST", root_api_url=postmark_server.url + "/")
    answer = client.emails.send(From="hello@example.com", To="a@example.com", TextBody="x")
    with pytest.raises(ClientError) as invalid:
        client.emails.send(From="hello@example.com", To="", TextBody="x")

    assert answer["Message"] == "Test job accepted" and answer["ErrorCode"] == 0
    assert invalid.value.error_code == 300
    assert postmark_server.messages() == []


@pytest.mark.parametrize("headers", [{}, {"x-postmark-server-token": "wrong"}])
def test_a_missing_or_wrong_token_gets_401_with_error_code_10(
    postmark_server: RunningServer, headers: dict[str, str]
) -> None:
    message = {"From": "hello@example.com", "To": "a@example.com", "TextBody": "x"}
    answer = httpx.post(f"{postmark_server.url}/email", json=message, headers=headers)
    search = httpx.get(f"{postmark_server.url}/messages/outbound?count=1&offset=0", headers=headers)

    assert answer.status_code == 401 and answer.json()["ErrorCode"] == 10
    assert "X-Postmark-Server-Token" in answer.json()["Message"]
    assert search.status_code == 401
    assert postmark_server.messages() == []


def test_the_token_header_name_is_case_insensitive(postmark_server: RunningServer) -> None:
    headers = {"x-postmark-server-token": postmark_server.server_token}
    message = {"From": "hello@example.com", "To": "a@example.com", "TextBody": "x"}
    assert httpx.post(f"{postmark_server.url}/email", json=message, headers=headers).status_code == 200
    client = PostmarkClient(server_token="stale-token", root_api_url=postmark_server.url + "/")
    with pytest.raises(ClientError) as refused:
        client.emails.send(From="hello@example.com", To="a@example.com", TextBody="x")
    assert refused.value.error_code == 10
