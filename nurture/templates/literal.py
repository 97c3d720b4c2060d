"""An email written out in full (an API's subject and HTML, a user's 1:1 email): sent as it is."""

from typing import Any

from nurture.db.models import Contact
from nurture.schemas.email import Content
from nurture.templates.render import RenderedEmail, Sender
from nurture.templates.text import html_to_text


class LiteralEmail:
    """Renders to its own subject, HTML and text, whoever it is for: no Jinja runs on it.

    Its plain text, when not given, is derived from the HTML once.
    """

    def __init__(self, content: Content) -> None:
        """Take the email as written."""
        text = content.text if content.text is not None else html_to_text(content.html or "")
        # A subject is one header line.
        subject = " ".join(content.subject.split())
        self._email = RenderedEmail(subject=subject, html=content.html or "", text=text)

    def render(
        self, *, contact: Contact, sender: Sender, model: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> RenderedEmail:
        """The email as written (the arguments are what a template would see)."""
        del contact, sender, model, extra
        return self._email
