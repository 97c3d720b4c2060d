"""The HTML inbox a developer opens: the list, one email, and the buttons that fire webhooks."""

import html

import httpx
from postmarker.core import PostmarkClient

from nurture.postmark_server import RunningServer
from tests.nurture.postmark_server.conftest import Receiver

HOSTILE = '<script>alert("x")</script>'


def test_inbox_lists_emails_newest_first_with_everything_escaped(
    client: PostmarkClient, postmark_server: RunningServer
) -> None:
    client.emails.send(From="a@example.com", To="first@example.com", Subject="Older", TextBody="x")
    client.emails.send(
        From="a@example.com", To="second@example.com", Subject=HOSTILE, TextBody="x", Tag="t&t"
    )

    page = httpx.get(f"{postmark_server.url}/")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert HOSTILE not in page.text
    assert html.escape(HOSTILE) in page.text and "t&amp;t" in page.text
    assert page.text.index("second@example.com") < page.text.index("first@example.com")


def test_one_email_shows_headers_metadata_bodies_and_buttons(
    client: PostmarkClient, postmark_server: RunningServer, receiver: Receiver
) -> None:
    postmark_server.configure_webhooks(url=receiver.url)
    body = f'<p>Hi</p>{HOSTILE}<a href="https://shop.example/a?x=1&y=2">A</a><a href="https://shop.example/b">B</a>'
    message_id = client.emails.send(
        From="a@example.com",
        To="ann@example.com",
        Subject="Links",
        HtmlBody=body,
        TextBody=f"text {HOSTILE}",
        Headers={"X-Note": HOSTILE},
        Metadata={"nurture_message_key": HOSTILE},
    )["MessageID"]

    page = httpx.get(f"{postmark_server.url}/__local/inbox/{message_id}").text

    assert HOSTILE not in page, "the email's own HTML only appears escaped, inside srcdoc"
    assert f'<iframe sandbox="" srcdoc="{html.escape(body, quote=True)}">' in page
    assert f"<pre>text {html.escape(HOSTILE)}</pre>" in page
    assert "X-Note" in page and "nurture_message_key" in page
    assert 'name="link" value="https://shop.example/a?x=1&amp;y=2"' in page
    assert 'value="https://shop.example/b"' in page
    for kind in ("Open", "Click", "Bounce", "SpamComplaint"):
        assert f'name="type" value="{kind}"' in page

    # The Click button, as the browser submits it.
    clicked = httpx.post(
        f"{postmark_server.url}/__local/messages/{message_id}/events",
        data={"type": "Click", "recipient": "ann@example.com", "link": "https://shop.example/b"},
        follow_redirects=True,
    )
    assert clicked.status_code == 200 and "Click webhook posted: 200" in clicked.text
    [(_, _, payload)] = receiver.received
    assert payload["RecordType"] == "Click" and payload["OriginalLink"] == "https://shop.example/b"


def test_unknown_email_page_is_404(postmark_server: RunningServer) -> None:
    assert httpx.get(f"{postmark_server.url}/__local/inbox/nope").status_code == 404


def test_clear_button_empties_the_inbox(client: PostmarkClient, postmark_server: RunningServer) -> None:
    client.emails.send(From="a@example.com", To="b@example.com", TextBody="x")
    cleared = httpx.post(f"{postmark_server.url}/__local/messages/clear", follow_redirects=True)
    assert cleared.status_code == 200 and "No email yet." in cleared.text
    assert postmark_server.messages() == []
