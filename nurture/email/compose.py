"""Compose the email a message key sends: render its template, add unsubscribe and tracking."""

import re
from email.utils import parseaddr
from html import escape

from sqlalchemy.orm import Session

from nurture.db.models import Contact, Message
from nurture.email.outgoing import OutgoingEmail
from nurture.schemas.email import SendRequest, TemplateKind
from nurture.settings import Settings
from nurture.templates.render import PreparedTemplate, Sender
from nurture.tracking.links import instrument, unsubscribe_headers, unsubscribe_url

# Where an href attribute's value starts.
_HREF = re.compile(r"""href\s*=\s*["']""")


def outgoing_of(message: Message) -> OutgoingEmail:
    """The email a composed message hands its provider: the very same on every attempt."""
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
    )


def sender_of(from_email: str) -> Sender:
    """The `sender` a template sees for a From address such as `Ada <ada@example.com>`."""
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


def compose(
    session: Session,
    *,
    message: Message,
    template: PreparedTemplate,
    contact: Contact,
    request: SendRequest,
    settings: Settings,
) -> list[str]:
    """Fill in the message's subject, bodies and headers (it must have its id already).

    `template` is compiled for the request's subject (the template's own, or the request's
    replacement), and shared by the batch's messages of that template.

    Returns:
        The original URLs of the message's tracked links, by position; the caller saves them
        (a batch writes all of its messages' links in one statement).

    Raises:
        TemplateRenderError: the template cannot be rendered for this contact and model.
    """
    extra: dict[str, str] = {}
    headers: dict[str, str] = {}
    if message.kind == TemplateKind.MARKETING:
        link = unsubscribe_url(settings, message_id=message.id)
        extra["unsubscribe_url"] = link
        headers.update(unsubscribe_headers(link))
    rendered = template.render(
        contact=contact, sender=sender_of(message.from_email), model=request.model, extra=extra
    )
    html, text = rendered.html, rendered.text
    if "unsubscribe_url" in extra:
        # Marketing email always shows a visible way out, even if the template forgot it.
        link = extra["unsubscribe_url"]
        if not _links_to(html, link):
            html = _with_unsubscribe_footer(html, link)
        if link not in text:
            text = f"{text}\n\nUnsubscribe: {link}\n"
    tracked = instrument(html=html, text=text, message_id=message.id, settings=settings)
    message.subject = rendered.subject
    message.html_body = tracked.html
    message.text_body = tracked.text
    message.headers = headers
    return tracked.urls
