"""Compose the email a message key sends: render its template, add unsubscribe and tracking."""

import re
from dataclasses import dataclass
from email.utils import parseaddr
from functools import lru_cache
from html import escape

from nurture.db.models import Contact
from nurture.email.new_message import LedgerRow, NewMessage
from nurture.email.outgoing import Attachment, OutgoingEmail
from nurture.schemas.email import SendRequest, TemplateKind
from nurture.settings import Settings
from nurture.templates.render import Renderable, Sender
from nurture.tracking.links import LinkLines, instrument, unsubscribe_headers, unsubscribe_url
from nurture.tracking.tokens import Slots, signing_keys

# Where an href attribute's value starts.
_HREF = re.compile(r"""href\s*=\s*["']""")


def outgoing_of(message: LedgerRow, *, attachments: tuple[Attachment, ...] = ()) -> OutgoingEmail:
    """The email a composed message hands its provider, with its staged files: the very same on
    every attempt."""
    return OutgoingEmail(
        key=message.key,
        from_email=message.from_email,
        to=message.to_email,
        subject=message.subject,
        html=message.html_body,
        text=message.text_body,
        stream=message.stream,
        tag=message.tag,
        headers=dict(message.headers),
        cc=tuple(message.cc or ()),
        bcc=tuple(message.bcc or ()),
        reply_to=message.reply_to,
        metadata=dict(message.custom_metadata or {}),
        attachments=attachments,
    )


@lru_cache(maxsize=256)
def sender_of(from_email: str) -> Sender:
    """The `sender` a template sees for a From address such as `Ada <ada@example.com>`.

    Remembered: a campaign's 500 emails a batch come from one address, parsed once.
    """
    name, address = parseaddr(from_email)
    return Sender(name=name or None, email=address or from_email)


def _links_to(html: str, url: str) -> bool:
    # A real link to it, not the URL sitting in a comment or in text. (One fixed pattern: one
    # built from each message's own URL would be compiled anew for every message.)
    targets = (escape(url), url)
    return any(html.startswith(targets, href.end()) for href in _HREF.finditer(html))


def _with_unsubscribe_footer(html: str, url: str) -> str:
    footer = (
        '<p style="font-size:12px;color:#666">'
        f'<a href="{escape(url)}" data-nurture-track="off">Unsubscribe</a></p>'
    )
    index = html.lower().rfind("</body>")
    return html[:index] + footer + html[index:] if index >= 0 else html + footer


@dataclass(frozen=True)
class Composed:
    """A message's rendered email, its tracking and unsubscribe tokens stand-ins from `slots`
    until `signed_for` signs them for the message's id."""

    subject: str
    html: str
    text: str
    headers: dict[str, str]
    # The original URLs of its tracked links, by position.
    urls: list[str]
    slots: Slots
    message_id: int | None = None

    def signed_for(self, message_id: int, settings: Settings) -> "Composed":
        """The same email with every token signed for its message id, now known."""
        names = list(self.headers)
        texts = [self.subject, self.html, self.text, *self.headers.values()]
        keys = signing_keys(settings)
        subject, html, text, *values = self.slots.fill(texts, message_id=message_id, keys=keys)
        headers = dict(zip(names, values, strict=True))
        return Composed(subject, html, text, headers, self.urls, self.slots, message_id)

    def fill(self, message: NewMessage) -> None:
        """Write the email into its message row (whose id it is signed for)."""
        if message.id is None or message.id != self.message_id:
            raise ValueError(f"signed for message {self.message_id}, not {message.id}")
        message.subject = self.subject
        message.html_body = self.html or None
        message.text_body = self.text
        message.headers = self.headers
        message.link_urls = self.urls or None


def compose(
    *,
    message: NewMessage,
    template: Renderable,
    contact: Contact,
    request: SendRequest,
    settings: Settings,
    slots: Slots,
    links: LinkLines | None = None,
) -> Composed:
    """The email of a message: rendered, with unsubscribe and tracking tokens left as `slots`'
    stand-ins (`Composed.signed_for` signs them once the message has its id).

    `template` is compiled for the request's subject (the template's own, or the request's
    replacement), and shared by the batch's messages of that template, as are `links` (where
    the links of the lines of HTML seen so far are). The message row is left as it is
    (`Composed.fill` writes it).

    Raises:
        TemplateRenderError: the template cannot be rendered for this contact and model.
    """
    extra: dict[str, str] = {}
    headers: dict[str, str] = {}
    if message.kind == TemplateKind.MARKETING:
        link = unsubscribe_url(settings, tokens=slots)
        extra["unsubscribe_url"] = link
        headers.update(unsubscribe_headers(link))
    rendered = template.render(
        contact=contact, sender=sender_of(message.from_email), model=request.model, extra=extra
    )
    html, text, split = rendered.html, rendered.text, rendered.html_pieces
    if "unsubscribe_url" in extra:
        # Marketing email always shows a visible way out, even if the template forgot it.
        link = extra["unsubscribe_url"]
        if html and not _links_to(html, link):
            html, split = _with_unsubscribe_footer(html, link), None
        if link not in text:
            text = f"{text}\n\nUnsubscribe: {link}\n"
    # A text-only email stays text-only: no HTML part just to hold the open pixel.
    tracked = instrument(
        html=html or None, text=text, settings=settings, tokens=slots, lines=links, split=split
    )
    return Composed(rendered.subject, tracked.html or "", tracked.text or "", headers, tracked.urls, slots)
