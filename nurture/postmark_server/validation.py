"""Checks one message the way Postmark's API does and turns it into an `Email`."""

from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Any

from nurture.postmark_server.errors import INVALID_REQUEST, STREAM_NOT_FOUND, PostmarkError

MAX_RECIPIENTS = 50
MAX_TAG_LENGTH = 1000
TRACK_LINKS = ("None", "HtmlAndText", "HtmlOnly", "TextOnly")
DEFAULT_STREAM = "outbound"
# Fields of a plain send; the template endpoints add TemplateId, TemplateAlias, TemplateModel, InlineCss.
STRING_FIELDS = (
    "From",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "HtmlBody",
    "TextBody",
    "ReplyTo",
    "Tag",
    "MessageStream",
)


@dataclass(frozen=True)
class Address:
    """One recipient: its address and display name ("" when none)."""

    email: str
    name: str = ""

    def as_json(self) -> dict[str, str]:
        """Postmark's `{"Email", "Name"}` shape."""
        return {"Email": self.email, "Name": self.name}


@dataclass
class Email:
    """A message that passed validation, as the sender meant it."""

    from_: str
    to: list[Address]
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    subject: str = ""
    html_body: str | None = None
    text_body: str | None = None
    reply_to: str | None = None
    headers: list[dict[str, str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    tag: str | None = None
    message_stream: str = DEFAULT_STREAM
    track_opens: bool = False
    track_links: str = "None"
    attachments: list[dict[str, str]] = field(default_factory=list)
    template: dict[str, Any] | None = None

    @property
    def recipients(self) -> list[Address]:
        """To, Cc and Bcc together, in that order."""
        return [*self.to, *self.cc, *self.bcc]


def _invalid(message: str) -> PostmarkError:
    return PostmarkError(INVALID_REQUEST, message)


def _string(data: dict[str, Any], name: str) -> str | None:
    # postmarker sends every unset field as JSON null: null means absent.
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"Invalid '{name}' value: expected a string.")
    return value


def parse_addresses(name: str, value: str | None) -> list[Address]:
    """The addresses of a comma-separated address field such as `To` or `Cc`.

    Raises:
        PostmarkError: an address has no '@'.
    """
    if not value or not value.strip():
        return []
    if "\r" in value or "\n" in value:
        # Header injection: Postmark refuses a line break in an address field.
        raise _invalid(f"Error parsing '{name}': line breaks are not allowed in an address.")
    addresses = []
    for display, address in getaddresses([value]):
        if "@" not in address:
            shown = address or value.strip()
            raise _invalid(
                f"Error parsing '{name}': Illegal email address '{shown}'. It must contain the '@' symbol."
            )
        addresses.append(Address(address, display))
    return addresses


def _headers(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid('Invalid \'Headers\' value: expected an array of {"Name", "Value"} objects.')
    headers = []
    for item in value:
        if not (isinstance(item, dict) and isinstance(item.get("Name"), str) and item["Name"]):
            raise _invalid("Invalid 'Headers' value: every header needs a 'Name' string.")
        header_value = item.get("Value")
        if header_value is not None and not isinstance(header_value, str):
            raise _invalid(f"Invalid 'Headers' value: the value of '{item['Name']}' must be a string.")
        if any(c in item["Name"] + (header_value or "") for c in "\r\n"):
            raise _invalid(f"Invalid 'Headers' value: '{item['Name']}' contains a line break.")
        headers.append({"Name": item["Name"], "Value": header_value or ""})
    return headers


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("Invalid 'Metadata' value: expected an object of string values.")
    seen: set[str] = set()
    for key, item in value.items():
        if not isinstance(item, str):
            raise _invalid(f"Invalid 'Metadata' value: the value of '{key}' must be a string.")
        # Postmark rejects keys that differ only in case.
        if key.lower() in seen:
            raise _invalid(f"Invalid 'Metadata' value: duplicate key '{key}'.")
        seen.add(key.lower())
    return dict(value)


def _attachments(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid("Invalid 'Attachments' value: expected an array.")
    attachments = []
    for item in value:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("Name"), str)
            and isinstance(item.get("Content"), str)
        ):
            raise _invalid(
                "Invalid 'Attachments' value: every attachment needs 'Name' and 'Content' strings."
            )
        attachments.append({k: v for k, v in item.items() if isinstance(v, str)})
    return attachments


def validate_email(data: Any, *, streams: frozenset[str] | None = None) -> Email:
    """Validate one message object of `/email` or a batch entry.

    Args:
        data: the decoded JSON object.
        streams: the message streams that exist; None accepts any stream.

    Raises:
        PostmarkError: what Postmark would answer (ErrorCode 300, or 1235 for an unknown stream).
    """
    if not isinstance(data, dict):
        raise _invalid("Invalid message: expected a JSON object.")
    values = {name: _string(data, name) for name in STRING_FIELDS}
    sender = values["From"]
    if not sender or not sender.strip():
        raise _invalid("Invalid 'From' address: ''. The 'From' field is required.")
    parse_addresses("From", sender)
    to = parse_addresses("To", values["To"])
    if not to:
        raise _invalid("Invalid 'To' address: ''. Zero recipients specified; the 'To' field is required.")
    cc = parse_addresses("Cc", values["Cc"])
    bcc = parse_addresses("Bcc", values["Bcc"])
    if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
        raise _invalid(
            f"Too many recipients: {len(to) + len(cc) + len(bcc)} in 'To', 'Cc' and 'Bcc' together; "
            f"a message may have at most {MAX_RECIPIENTS}."
        )
    if not values["HtmlBody"] and not values["TextBody"]:
        raise _invalid("Provide either email 'TextBody' or 'HtmlBody' or both.")
    tag = values["Tag"]
    if tag is not None and len(tag) > MAX_TAG_LENGTH:
        raise _invalid(f"Invalid 'Tag' value: at most {MAX_TAG_LENGTH} characters.")
    track_opens = data.get("TrackOpens")
    if track_opens is not None and not isinstance(track_opens, bool):
        raise _invalid("Invalid 'TrackOpens' value: expected true or false.")
    track_links = data.get("TrackLinks") or "None"
    if track_links not in TRACK_LINKS:
        raise _invalid(f"Invalid 'TrackLinks' value: must be one of {', '.join(TRACK_LINKS)}.")
    stream = values["MessageStream"] or DEFAULT_STREAM
    if streams is not None and stream not in streams:
        raise PostmarkError(
            STREAM_NOT_FOUND, f"The message stream for the provided 'ID' ({stream}) was not found."
        )
    return Email(
        from_=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=values["Subject"] or "",
        html_body=values["HtmlBody"],
        text_body=values["TextBody"],
        reply_to=values["ReplyTo"],
        headers=_headers(data.get("Headers")),
        metadata=_metadata(data.get("Metadata")),
        tag=tag,
        message_stream=stream,
        track_opens=bool(track_opens),
        track_links=track_links,
        attachments=_attachments(data.get("Attachments")),
    )
