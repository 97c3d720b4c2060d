"""Received email: the inbound webhook body Postmark posts, built from a simple description."""

# Postmark's inbound processing parses each email sent to a server's inbound address and POSTs it
# as JSON to the server's one inbound webhook URL. The shape below follows the documented example
# and field notes: https://postmarkapp.com/developer/webhooks/inbound-webhook and
# https://postmarkapp.com/developer/user-guide/inbound/parse-an-email.
#
# Retries: Postmark retries an inbound post that is not answered 200, 10 times over about 10.5 hours
# (1, 5, 10, 10, 10, 15, 30 min, 1, 2, 6 h), stops at once on a 403, and waits 2 minutes for an answer
# (parse-an-email, and postmarkapp.com/support/article/understanding-inbound-webhook-retries-in-postmark).
# This server (`POST /__local/inbound`) posts once and reports the receiver's status, with whether
# Postmark would have retried; post again to replay.

import re
import uuid
from email.utils import formataddr, getaddresses
from typing import Any

from nurture.postmark_server.validation import Address

# Postmark's default inbound stream ID.
INBOUND_STREAM = "inbound"
# Postmark waits this long for the receiver to answer (parse-an-email).
INBOUND_TIMEOUT = 120.0
# Where a quoted earlier message starts in a plain-text reply: "On <date>, <name> wrote:", "> ...",
# Outlook's separator. The local stand-in for Postmark's reply stripping, which is English-only too.
_QUOTE_START = re.compile(
    r"^\s*(>|On\b.*\bwrote:\s*$|-{2,}\s*Original Message\s*-{2,})", re.IGNORECASE | re.MULTILINE
)
_FIELDS = ("from", "to", "cc", "subject", "text", "html", "headers")


def mailbox_hash(email: str) -> str:
    """What follows "+" in the address's local part (`reply+abc@x.io` gives `abc`), or ""."""
    local = email.rsplit("@", 1)[0]
    return local.split("+", 1)[1] if "+" in local else ""


def stripped_reply(text: str, *, is_reply: bool) -> str:
    """The reply alone, without the quoted email below it; "" when not a reply or nothing is left.

    Postmark fills StrippedTextReply only for replies it can parse; this cuts the plain text at the
    first quote marker, which is enough for the replies written in tests and by hand.
    """
    if not is_reply or not text.strip():
        return ""
    found = _QUOTE_START.search(text)
    return (text[: found.start()] if found else text).rstrip()


def _full(address: Address) -> dict[str, str]:
    return {"Email": address.email, "Name": address.name, "MailboxHash": mailbox_hash(address.email)}


def _written(addresses: list[Address]) -> str:
    # As the docs' example writes To and Cc: `"Firstname Lastname" <addr>`, or the bare address.
    return ", ".join(_quoted(a.name) + f" <{a.email}>" if a.name else a.email for a in addresses)


def _quoted(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def build_inbound_payload(
    *,
    sender: Address,
    to: list[Address],
    cc: list[Address],
    subject: str,
    text: str,
    html: str | None,
    extra_headers: dict[str, str],
    message_id: str,
    date: str,
) -> dict[str, Any]:
    """The JSON Postmark posts for an email received at the first `to` address.

    Args:
        sender: who wrote it.
        to: the To addresses; the first is the inbound address it was delivered to.
        cc: the Cc addresses.
        subject: the Subject.
        text: the plain-text part.
        html: the HTML part, if any.
        extra_headers: headers the email carried (In-Reply-To, References, Auto-Submitted, ...);
            one named like a default header (Message-ID, Date, Return-Path, ...) replaces it.
        message_id: Postmark's own ID for the inbound message (the top-level MessageID).
        date: the Date header the sender wrote, in RFC 2822 form.
    """
    headers: list[list[str]] = [
        ["Return-Path", f"<{sender.email}>"],
        ["Received", f"by local Postmark-compatible server; {date}"],
        # Postmark runs SpamAssassin on inbound mail and passes its verdict on in these headers.
        ["X-Spam-Status", "No"],
        ["X-Spam-Score", "0.0"],
        ["MIME-Version", "1.0"],
        ["From", formataddr((sender.name, sender.email))],
        ["Date", date],
        ["Subject", subject],
        ["Message-ID", f"<{uuid.uuid4()}@local.postmark>"],
        ["To", _written(to)],
    ]
    if cc:
        headers.append(["Cc", _written(cc)])
    for name, value in extra_headers.items():
        same = [h for h in headers if h[0].lower() == name.lower()]
        if same:
            same[0][1] = value
        else:
            headers.append([name, value])
    written = {name.lower(): value for name, value in reversed(headers)}
    is_reply = "in-reply-to" in written or "references" in written
    return {
        "FromName": sender.name,
        "MessageStream": INBOUND_STREAM,
        "From": sender.email,
        "FromFull": _full(sender),
        "To": _written(to),
        "ToFull": [_full(a) for a in to],
        "Cc": _written(cc),
        "CcFull": [_full(a) for a in cc],
        "Bcc": "",
        "BccFull": [],
        "OriginalRecipient": to[0].email,
        "Subject": subject,
        "MessageID": message_id,
        "ReplyTo": written.get("reply-to", ""),
        "MailboxHash": mailbox_hash(to[0].email),
        "Date": written["date"],
        "TextBody": text,
        "HtmlBody": html or "",
        "StrippedTextReply": stripped_reply(text, is_reply=is_reply),
        "Tag": "",
        "Headers": [{"Name": name, "Value": value} for name, value in headers],
        "Attachments": [],
    }


def _addresses(value: Any, field: str, *, required: bool) -> list[Address]:
    if value is None or value == "" or value == []:
        if required:
            raise ValueError(f"{field}: missing")
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"{field}: must be an address or a list of addresses")
    addresses = []
    for name, email in getaddresses(items):
        if "@" not in email:
            raise ValueError(f"{field}: not an email address: {email or name!r}")
        addresses.append(Address(email, name))
    return addresses


def _optional_text(data: dict[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{field}: must be a string")
    return value


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and k.strip() and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError('headers: must be an object of header names to string values, {"In-Reply-To": ...}')
    return value


def inbound_payload(description: dict[str, Any], *, message_id: str, date: str) -> dict[str, Any]:
    """The inbound webhook body for an email described simply, as `POST /__local/inbound` takes it.

    Args:
        description: `{"from", "to", "cc"?, "subject"?, "text"?, "html"?, "headers"?}`; `from` is
            `"Name <addr>"` or an address, `to` and `cc` one such string or a list, `headers` an
            object such as `{"In-Reply-To": "<id@host>", "Auto-Submitted": "auto-replied"}`.
        message_id: Postmark's own ID for the inbound message.
        date: the Date header, unless `headers` gives one.

    Raises:
        ValueError: with a message naming the bad or unknown field.
    """
    unknown = sorted(set(description) - set(_FIELDS))
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: unknown field (known: {', '.join(_FIELDS)})")
    senders = _addresses(description.get("from"), "from", required=True)
    if len(senders) != 1:
        raise ValueError("from: must be one address")
    return build_inbound_payload(
        sender=senders[0],
        to=_addresses(description.get("to"), "to", required=True),
        cc=_addresses(description.get("cc"), "cc", required=False),
        subject=_optional_text(description, "subject") or "",
        text=_optional_text(description, "text") or "",
        html=_optional_text(description, "html"),
        extra_headers=_headers(description.get("headers")),
        message_id=message_id,
        date=date,
    )


def postmark_would_retry(status: int | None) -> bool:
    """Whether Postmark would post again after this answer: only a 200 is taken, a 403 stops retries."""
    return status not in (200, 403)
