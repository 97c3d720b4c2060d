"""The HTML inbox: every received email, and one email with buttons that fire its webhooks."""

from html import escape
from html.parser import HTMLParser

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from nurture.postmark_server.clock import api_time
from nurture.postmark_server.control import PREFIX
from nurture.postmark_server.sending import state_of
from nurture.postmark_server.store import StoredMessage

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
iframe { width: 100%; height: 28rem; border: 1px solid #ccc; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: .6rem; }
form { display: inline-block; margin: .2rem; }
.note { background: #eef6ee; padding: .5rem; } .muted { color: #777; }
"""


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href and href.startswith(("http://", "https://")) and href not in self.links:
            self.links.append(href)


def links_in(html_body: str | None) -> list[str]:
    """The distinct http(s) links of an HTML body, in order."""
    parser = _Links()
    parser.feed(html_body or "")
    return parser.links


def _page(title: str, body: str, *, refresh: bool = False, status: int = 200) -> HTMLResponse:
    meta = '<meta http-equiv="refresh" content="5">' if refresh else ""
    return HTMLResponse(
        f'<!doctype html><html><head><meta charset="utf-8">{meta}<title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>",
        status_code=status,
    )


def _row(message: StoredMessage) -> str:
    email = message.email
    cells = [
        api_time(message.received_at)[:19].replace("T", " "),
        email.message_stream,
        email.from_,
        ", ".join(a.email for a in email.to),
        email.subject or "(no subject)",
        email.tag or "",
    ]
    link = f"{PREFIX}/inbox/{escape(message.message_id)}"
    shown = [f'<a href="{link}">{escape(c)}</a>' if i == 4 else escape(c) for i, c in enumerate(cells)]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in shown) + "</tr>"


async def index(request: Request) -> HTMLResponse:
    """`GET /`: the received emails, newest first."""
    state = state_of(request)
    messages = state.store.messages()
    target = state.webhooks.url or "nowhere (no webhook URL configured)"
    columns = ("time (US Eastern)", "stream", "from", "to", "subject", "tag")
    header = "<tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>"
    rows = "".join(_row(m) for m in messages) or '<tr><td colspan="6" class="muted">No email yet.</td></tr>'
    clear = f'<form method="post" action="{PREFIX}/messages/clear"><button>Clear inbox</button></form>'
    body = (
        f"<h1>Local Postmark inbox</h1><p class='muted'>{len(messages)} email(s). "
        f"Webhooks go to {escape(target)}.</p>{clear}<table>{header}{rows}</table>"
    )
    return _page("Local Postmark inbox", body, refresh=True)


def _button(message_id: str, kind: str, label: str, *, recipient: str, link: str | None = None) -> str:
    hidden = f'<input type="hidden" name="type" value="{escape(kind)}">'
    hidden += f'<input type="hidden" name="recipient" value="{escape(recipient)}">'
    if link:
        hidden += f'<input type="hidden" name="link" value="{escape(link)}">'
    action = f"{PREFIX}/messages/{escape(message_id)}/events"
    return f'<form method="post" action="{action}">{hidden}<button>{escape(label)}</button></form>'


async def show(request: Request) -> HTMLResponse:
    """`GET /__local/inbox/{id}`: one email, with buttons that post Open, Click, Bounce, SpamComplaint."""
    message = state_of(request).store.get(request.path_params["message_id"])
    if message is None:
        return _page("Not found", "<p>No such message. <a href='/'>Inbox</a></p>", status=404)
    email, mid = message.email, message.message_id
    recipient = email.recipients[0].email
    note = ""
    if request.query_params.get("fired"):
        outcome = request.query_params.get("status") or request.query_params.get("error") or "no answer"
        note = (
            f"<p class='note'>{escape(request.query_params['fired'])} webhook posted: {escape(outcome)}</p>"
        )
    fields = [
        ("MessageID", mid),
        ("Received", api_time(message.received_at)),
        ("Stream", email.message_stream),
        ("From", email.from_),
        ("To", ", ".join(a.email for a in email.to)),
        ("Cc", ", ".join(a.email for a in email.cc)),
        ("Bcc", ", ".join(a.email for a in email.bcc)),
        ("Reply-To", email.reply_to or ""),
        ("Subject", email.subject),
        ("Tag", email.tag or ""),
        ("TrackOpens / TrackLinks", f"{email.track_opens} / {email.track_links}"),
        *((f"Header {h['Name']}", h["Value"]) for h in email.headers),
        *((f"Metadata {k}", v) for k, v in email.metadata.items()),
    ]
    table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in fields)
    buttons = [
        _button(mid, "Open", "Open", recipient=recipient),
        *(
            _button(mid, "Click", f"Click {link}", recipient=recipient, link=link)
            for link in links_in(email.html_body)
        ),
        _button(mid, "Delivery", "Delivery", recipient=recipient),
        _button(mid, "Bounce", "Bounce", recipient=recipient),
        _button(mid, "SpamComplaint", "Spam complaint", recipient=recipient),
        _button(mid, "SubscriptionChange", "Unsubscribe", recipient=recipient),
    ]
    events = "".join(
        f"<li>{escape(e['ReceivedAt'])} {escape(e['Type'])} {escape(e['Recipient'])}</li>"
        for e in message.events
    )
    # An empty sandbox: the email's HTML shows but runs no script and cannot navigate this page.
    html_part = (
        f'<iframe sandbox="" srcdoc="{escape(email.html_body, quote=True)}"></iframe>'
        if email.html_body
        else "<p>none</p>"
    )
    body = (
        f"<p><a href='/'>&larr; Inbox</a></p><h1>{escape(email.subject or '(no subject)')}</h1>{note}"
        f"<table>{table}</table><h2>Fire a webhook (for {escape(recipient)})</h2>{''.join(buttons)}"
        f"<h2>Events</h2><ul>{events or '<li class=muted>none</li>'}</ul>"
        f"<h2>HTML body</h2>{html_part}<h2>Text body</h2><pre>{escape(email.text_body or '')}</pre>"
    )
    return _page(email.subject or "Email", body)


routes = [
    Route("/", index, methods=["GET"]),
    Route(f"{PREFIX}/inbox/{{message_id}}", show, methods=["GET"]),
]
