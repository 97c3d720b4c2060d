"""A received email's raw bytes, read into an `InboundEmail`: forgiving, never raising on odd mail."""

import re
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.utils import getaddresses

from nurture.email.inbound import InboundEmail, first_message_id, message_ids
from nurture.email.postmark_inbound import parse_date
from nurture.templates.text import html_to_text

_LINE_BREAKS = re.compile(r"[\r\n]+\s*")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def parse_email(raw: bytes) -> InboundEmail:
    """Read an email as fetched from IMAP.

    Headers are decoded (RFC 2047, or raw UTF-8 as some mailers write it) and unfolded; names are
    lowercased and a repeated header keeps its first value. The text is the text/plain body, or
    text made from the HTML body when there is no plain one. A missing or unreadable header
    gives an empty value (None for ids and the date), a part in an unknown charset is read as
    UTF-8 with replacement characters: mail is never refused for being odd.
    """
    message = message_from_bytes(raw, policy=policy.default)
    headers: dict[str, str] = {}
    for name, value in message.raw_items():
        headers.setdefault(name.lower(), _header_text(message, name, value))
    from_name, from_email = _first_address(headers.get("from", ""))
    html = _lines(_body(message, "html"))
    text = _lines(_body(message, "plain"))
    if not (text and text.strip()) and html:
        text = _html_text(html)
    return InboundEmail(
        from_email=from_email,
        from_name=from_name or None,
        subject=headers.get("subject", ""),
        text=text or "",
        html=html,
        to=_addresses(headers.get("to", "")),
        cc=_addresses(headers.get("cc", "")),
        message_id=first_message_id(headers.get("message-id")),
        in_reply_to=first_message_id(headers.get("in-reply-to")),
        references=message_ids(headers.get("references")),
        received_at=parse_date(headers.get("date")),
        headers=headers,
    )


def _header_text(message: Message, name: str, value: str) -> str:
    # Bytes outside ASCII arrive as surrogates; most such mailers meant UTF-8.
    if any("\udc80" <= char <= "\udcff" for char in value):
        data = value.encode("utf-8", "surrogateescape")
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            value = data.decode("latin-1")
    try:
        text = str(message.policy.header_fetch_parse(name, value))
    except Exception:  # the header parser has raised IndexError and others on odd input
        try:
            text = str(make_header(decode_header(value)))
        except Exception:
            text = value
    return _LINE_BREAKS.sub(" ", text).strip()


def _addresses(value: str) -> tuple[str, ...]:
    return tuple(address for _, address in _pairs(value))


def _first_address(value: str) -> tuple[str, str]:
    for name, address in _pairs(value):
        return name.strip(), address
    return "", ""


def _pairs(value: str) -> list[tuple[str, str]]:
    try:
        pairs = getaddresses([value])
    except Exception:
        return []
    # What a broken header leaves behind ("", "<>", "name <x@y" run together) is not an address.
    return [(name, address.strip()) for name, address in pairs if _ADDRESS.match(address.strip())]


def _body(message: EmailMessage, subtype: str) -> str | None:
    try:
        part = message.get_body(preferencelist=(subtype,))
    except Exception:
        return None
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except Exception:  # an unknown charset, a broken transfer encoding
        pass
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        return None
    if not isinstance(payload, bytes):
        return None
    try:
        return payload.decode(part.get_content_charset() or "utf-8", "replace")
    except Exception:  # a charset Python does not know, or a name no codec could have
        return payload.decode("utf-8", "replace")


def _lines(text: str | None) -> str | None:
    return None if text is None else text.replace("\r\n", "\n").replace("\r", "\n")


def _html_text(html: str) -> str:
    try:
        return html_to_text(html)
    except Exception:  # a text body is a convenience; the HTML is kept
        return ""
