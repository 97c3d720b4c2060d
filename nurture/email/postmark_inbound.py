"""Postmark's inbound webhook body, read into an `InboundEmail`."""

# The shape is Postmark's documented one: the example JSON and field notes at
# https://postmarkapp.com/developer/webhooks/inbound-webhook, and the longer discussion at
# https://postmarkapp.com/developer/user-guide/inbound/parse-an-email.

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

from nurture.email.inbound import InboundEmail, first_message_id, message_ids

# An RFC 2822 date whose zone is written "-04:00" (as in Postmark's own example, "Fri, 1 Aug 2014
# 16:45:32 -04:00"); the standard library reads that as a naive time, silently losing the offset.
_COLON_ZONE = re.compile(r"([+-]\d{2}):(\d{2})\s*$")


class PostmarkInboundError(ValueError):
    """Not an inbound webhook body; the message names the field: `FromFull.Email: missing`."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def parse_inbound(payload: Mapping[str, Any]) -> InboundEmail:
    """Read one inbound webhook body as Postmark posts it.

    Which fields are used, and why:

    - Sender: `FromFull.Email` and `FromFull.Name`; `From` (parsed, it may be `"Name" <addr>`) only when
      `FromFull` is absent, as in payloads from before Postmark added it.
    - `to`, `cc`: the `Email` of each `ToFull` / `CcFull` entry (the `To` / `Cc` strings when absent).
    - `message_id`: the email's own `Message-ID` header from `Headers`, the ID its sender's later mail
      will cite in In-Reply-To. Postmark's top-level `MessageID` is the UUID Postmark gave the inbound
      message (for its Messages API), not a header, so it is not used here.
    - `in_reply_to`, `references`: the `In-Reply-To` and `References` headers.
    - `mailbox_hash`: the top-level `MailboxHash`, what follows "+" in the inbound address the email
      was delivered to (`reply+HASH@...`); `""` becomes None.
    - `text`: `StrippedTextReply` when it has content, else `TextBody`. Postmark fills
      `StrippedTextReply` with the reply alone, without the quoted email it answers, but only when it
      recognises a reply (it needs In-Reply-To or References, a plain-text part, and quoting it knows);
      otherwise it is empty, and the whole `TextBody` is better than no text.
    - `html`: `HtmlBody`; `""` becomes None.
    - `received_at`: `Date`, the sender's own Date header, in RFC 2822 form as the sending server wrote
      it (the docs warn the format varies), as an aware datetime; None when absent or unreadable,
      since a reply should not be lost to an odd date.
    - `headers`: every `Headers` entry, names lowercased, the first value of a repeated name kept; this
      is where Auto-Submitted, Precedence and Return-Path are, for `InboundEmail.automatic`.

    Raises:
        PostmarkInboundError: a field is missing or of the wrong type, named in the message
            (`FromFull.Email: missing`, `ToFull[0]: expected an object`, `Headers[2].Name: ...`).
    """
    if not isinstance(payload, Mapping):
        raise PostmarkInboundError("body", "expected a JSON object")
    from_email, from_name = _sender(payload)
    headers = _headers(payload)
    stripped = _optional_string(payload, "StrippedTextReply")
    text = stripped if stripped and stripped.strip() else _optional_string(payload, "TextBody") or ""
    return InboundEmail(
        from_email=from_email,
        from_name=from_name,
        subject=_optional_string(payload, "Subject") or "",
        text=text,
        html=_optional_string(payload, "HtmlBody") or None,
        to=_addresses(payload, "ToFull", "To"),
        cc=_addresses(payload, "CcFull", "Cc"),
        message_id=first_message_id(headers.get("message-id")),
        in_reply_to=first_message_id(headers.get("in-reply-to")),
        references=message_ids(headers.get("references")),
        received_at=parse_date(_optional_string(payload, "Date")),
        headers=headers,
        mailbox_hash=_optional_string(payload, "MailboxHash") or None,
    )


def parse_date(value: str | None) -> datetime | None:
    """An RFC 2822 date (or, failing that, ISO 8601) as an aware datetime; None if it is neither.

    A zone of `-0000` ("no zone information", RFC 2822 3.3) or none is taken as UTC.
    """
    if not value or not value.strip():
        return None
    text = _COLON_ZONE.sub(r"\1\2", value.strip())
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _optional_string(payload: Mapping[str, Any], name: str) -> str | None:
    # Postmark sends every documented field, empty as "": absence or null is tolerated, other types not.
    value = payload.get(name)
    if value is not None and not isinstance(value, str):
        raise PostmarkInboundError(name, f"expected a string, got {type(value).__name__}")
    return value


def _address(value: Any, field: str) -> str:
    if value is None or value == "":
        raise PostmarkInboundError(field, "missing")
    if not isinstance(value, str):
        raise PostmarkInboundError(field, f"expected a string, got {type(value).__name__}")
    address = value.strip()
    if "@" not in address or any(c.isspace() for c in address):
        raise PostmarkInboundError(field, f"not an email address: {value!r}")
    return address


def _sender(payload: Mapping[str, Any]) -> tuple[str, str | None]:
    full = payload.get("FromFull")
    if full is None:
        # Payloads from before FromFull existed: `From` alone, perhaps `"Name" <addr>`.
        raw = _optional_string(payload, "From")
        if not raw:
            raise PostmarkInboundError("FromFull.Email", "missing")
        name, address = parseaddr(raw)
        fallback_name = _optional_string(payload, "FromName")
        return _address(address, "From"), name or fallback_name or None
    if not isinstance(full, Mapping):
        raise PostmarkInboundError("FromFull", "expected an object")
    email: Any = full.get("Email")
    if email is None or email == "":
        email = parseaddr(_optional_string(payload, "From") or "")[1]
    full_name = full.get("Name")
    if full_name is not None and not isinstance(full_name, str):
        raise PostmarkInboundError("FromFull.Name", f"expected a string, got {type(full_name).__name__}")
    return _address(email, "FromFull.Email"), full_name or None


def _addresses(payload: Mapping[str, Any], full_name: str, plain_name: str) -> tuple[str, ...]:
    full = payload.get(full_name)
    if full is None:
        plain = _optional_string(payload, plain_name) or ""
        return tuple(address for _, address in getaddresses([plain]) if address)
    if not isinstance(full, list):
        raise PostmarkInboundError(full_name, "expected a list")
    addresses = []
    for index, entry in enumerate(full):
        if not isinstance(entry, Mapping):
            raise PostmarkInboundError(f"{full_name}[{index}]", "expected an object")
        addresses.append(_address(entry.get("Email"), f"{full_name}[{index}].Email"))
    return tuple(addresses)


def _headers(payload: Mapping[str, Any]) -> dict[str, str]:
    entries = payload.get("Headers")
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise PostmarkInboundError("Headers", "expected a list of {Name, Value}")
    headers: dict[str, str] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise PostmarkInboundError(f"Headers[{index}]", "expected an object {Name, Value}")
        name, value = entry.get("Name"), entry.get("Value")
        if not isinstance(name, str) or not name.strip():
            raise PostmarkInboundError(f"Headers[{index}].Name", "missing")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise PostmarkInboundError(
                f"Headers[{index}].Value", f"expected a string, got {type(value).__name__}"
            )
        headers.setdefault(name.strip().lower(), value)
    return headers
