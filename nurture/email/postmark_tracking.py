"""Postmark opens and clicks: machine detection, the data kept, and the real target of a click."""

from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from nurture.crud.messages import link_url
from nurture.db.models import EngagementType, Message
from nurture.email.postmark_outcome import HandledEvent, record
from nurture.email.postmark_payloads import ClickEvent, OpenEvent
from nurture.settings import Settings
from nurture.tracking.machine import machine_reason
from nurture.tracking.tokens import signing_keys, verify

# The path of Nurture's own click URLs under public_url (nurture.tracking.links).
CLICK_PATH = "/t/c/"


def handle_open(session: Session, event: OpenEvent, message: Message | None, key: str) -> HandledEvent:
    """Record an open, flagged when a machine (a privacy proxy, a scanner) made it."""
    return record(
        session,
        event,
        message=message,
        key=key,
        type=EngagementType.OPENED,
        occurred_at=event.received_at,
        machine=_machine(event, message, kind="open"),
        data=client_data(event) | {"first_open": event.first_open},
    )


def handle_click(
    session: Session, event: ClickEvent, message: Message | None, key: str, *, settings: Settings
) -> HandledEvent:
    """Record a click on the link the reader meant, flagged when a machine made it."""
    return record(
        session,
        event,
        message=message,
        key=key,
        type=EngagementType.CLICKED,
        occurred_at=event.received_at,
        url=click_target(session, link=event.original_link, message=message, settings=settings),
        machine=_machine(event, message, kind="click"),
        data=client_data(event) | {"click_location": event.click_location},
    )


def click_target(session: Session, *, link: str, message: Message | None, settings: Settings) -> str:
    """The URL a click went to: the stored target when `link` is one of this message's click URLs.

    Nurture rewrites links to its own signed click URLs before Postmark sees them, so Postmark's
    OriginalLink is usually that URL. A token that does not verify, or names another message or
    no stored link, proves nothing: the link is then kept as Postmark gave it.
    """
    token = _click_token(link, public_url=settings.public_url)
    if token is None or message is None:
        return link
    claims = verify("click", token, keys=signing_keys(settings))
    if claims is None or claims.message_id != message.id:
        return link
    stored = link_url(session, message=message, position=claims.position)
    return stored if stored is not None else link


def _click_token(link: str, *, public_url: str) -> str | None:
    """The token of `{public_url}/t/c/{token}`, or None for any other URL."""
    base, url = urlsplit(public_url.rstrip("/")), urlsplit(link.strip())
    # Scheme and host are case-insensitive; the path is compared as written.
    same_origin = (url.scheme.lower(), url.netloc.lower()) == (base.scheme.lower(), base.netloc.lower())
    prefix = base.path + CLICK_PATH
    if not same_origin or not url.path.startswith(prefix):
        return None
    token = url.path.removeprefix(prefix)
    return token or None


def _machine(
    event: OpenEvent | ClickEvent, message: Message | None, *, kind: Literal["open", "click"]
) -> str | None:
    seconds = None
    if message is not None and message.sent_at is not None:
        seconds = (event.received_at - message.sent_at).total_seconds()
        # Postmark's clock and ours differ; a negative gap says nothing about the reader.
        seconds = seconds if seconds >= 0 else None
    ip = event.geo.ip if event.geo is not None else None
    return machine_reason(kind=kind, user_agent=event.user_agent, ip=ip, seconds_since_sent=seconds)


def client_data(event: OpenEvent | ClickEvent) -> dict[str, Any]:
    """What an open or click keeps about the reader's client.

    The IP address serves machine detection only and is never stored, nor are coordinates: they
    are personal data Nurture has no use for; the country is enough.
    """
    return {
        "platform": event.platform,
        "user_agent": event.user_agent,
        "client": event.client.name if event.client else None,
        "os": event.os.name if event.os else None,
        "country": event.geo.country if event.geo else None,
    }
