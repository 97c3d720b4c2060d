"""IMAP folders: their names on the wire, finding the Sent folder, and keeping a sent copy there."""

import base64
import imaplib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

from nurture.mailbox.config import MailboxConfig
from nurture.mailbox.imap import DEFAULT_TIMEOUT, check_ok, open_imap, response_text

# Used when the server marks no folder \Sent (RFC 6154) and has none of the usual names.
DEFAULT_SENT = "Sent"
# Names clients and servers give the Sent folder, for servers without SPECIAL-USE.
_SENT_NAMES = ("sent", "sent items", "sent messages", "sent mail")

_LIST_LINE = re.compile(
    rb'^\((?P<flags>[^)]*)\)\s+(?P<delimiter>"(?:[^"\\]|\\.)*"|NIL)\s*(?P<name>.*)$', re.I
)
_APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]", re.I)


@dataclass(frozen=True)
class Folder:
    """One folder from LIST: its name (decoded), its attributes (`\\Sent`, `\\Noselect`...)."""

    name: str
    attributes: frozenset[str]
    delimiter: str | None


def list_folders(imap: imaplib.IMAP4) -> list[Folder]:
    """Every folder of the logged-in mailbox."""
    typ, data = imap.list('""', "*")
    check_ok(typ, data, doing="LIST")
    folders = []
    for item in data:
        # A name sent as a literal arrives as (line ending in {n}, name).
        line, literal = (item[0], item[1]) if isinstance(item, tuple) else (item, None)
        if not isinstance(line, bytes):
            continue
        match = _LIST_LINE.match(line)
        if match is None:
            continue
        raw_name = literal if literal is not None else _unquote(match["name"])
        delimiter = None if match["delimiter"].upper() == b"NIL" else _unquote(match["delimiter"]).decode()
        attributes = frozenset(flag.lower() for flag in match["flags"].decode("ascii", "replace").split())
        folders.append(Folder(decode_name(raw_name), attributes, delimiter))
    return folders


def find_sent_folder(imap: imaplib.IMAP4, *, configured: str | None) -> tuple[str, bool]:
    """The Sent folder's name, and whether it exists yet.

    The configured name if any; else the folder marked `\\Sent` (SPECIAL-USE, RFC 6154: Gmail's
    "[Gmail]/Sent Mail", Outlook's "Sent Items"); else one with a usual name; else "Sent".
    """
    folders = [folder for folder in list_folders(imap) if "\\noselect" not in folder.attributes]
    if configured is not None:
        return configured, any(folder.name == configured for folder in folders)
    for folder in folders:
        if "\\sent" in folder.attributes:
            return folder.name, True
    by_name = {_leaf(folder).lower(): folder.name for folder in folders}
    for usual in _SENT_NAMES:
        if usual in by_name:
            return by_name[usual], True
    return DEFAULT_SENT, False


def append_sent(config: MailboxConfig, raw: bytes, *, timeout: float = DEFAULT_TIMEOUT) -> int | None:
    """Keep a copy of a sent message in the mailbox's Sent folder, marked read (`\\Seen`).

    Sending through SMTP leaves no copy in the user's mailbox, so mail clients append one; some
    providers (Gmail, for one) file a copy of what their SMTP server accepts themselves, and
    whether to append for those is the caller's choice. Creates the folder when it does not
    exist (or the server answers TRYCREATE).

    Args:
        config: the mailbox.
        raw: the message as sent, with its Bcc header (`build_mime(email, with_bcc=True)`).
        timeout: seconds for connecting and for each read or write.

    Returns:
        The copy's UID when the server tells (UIDPLUS), else None.

    Raises:
        MailboxUnavailable: transient; LoginRefused, MailboxRefused: permanent.
    """
    internal_date = imaplib.Time2Internaldate(_date_of(raw))
    with open_imap(config, timeout=timeout) as imap:
        folder, exists = find_sent_folder(imap, configured=config.sent_folder)
        typ, data = imap.append(quote_name(folder), r"(\Seen)", internal_date, raw)
        if typ != "OK" and (not exists or "TRYCREATE" in response_text(data).upper()):
            check_ok(*imap.create(quote_name(folder)), doing=f"CREATE {folder}")
            typ, data = imap.append(quote_name(folder), r"(\Seen)", internal_date, raw)
        check_ok(typ, data, doing=f"APPEND to {folder}")
        found = _APPENDUID.search(response_text(data).encode())
        return int(found[1]) if found else None


def quote_name(name: str) -> str:
    """A folder name as an IMAP command argument: modified UTF-7, quoted."""
    encoded = encode_name(name)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_name(name: str) -> str:
    """Modified UTF-7 (RFC 3501 5.1.3): how IMAP4rev1 writes folder names outside ASCII."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            utf16 = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(utf16).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def decode_name(raw: bytes) -> str:
    """A folder name from the wire, modified UTF-7 decoded; left as is when it is not valid."""
    text = raw.decode("utf-8", "replace")

    def shifted(match: re.Match[str]) -> str:
        body = match[1]
        if not body:
            return "&"
        padded = body.replace(",", "/") + "=" * (-len(body) % 4)
        return base64.b64decode(padded).decode("utf-16-be")

    try:
        return re.sub(r"&([A-Za-z0-9+,]*)-", shifted, text)
    except (ValueError, UnicodeDecodeError):
        return text


def _unquote(value: bytes) -> bytes:
    value = value.strip()
    if len(value) >= 2 and value[:1] == b'"' and value[-1:] == b'"':
        return re.sub(rb"\\(.)", rb"\1", value[1:-1])
    return value


def _leaf(folder: Folder) -> str:
    name = folder.name
    if folder.delimiter and folder.delimiter in name:
        return name.rsplit(folder.delimiter, 1)[1]
    return name


def _date_of(raw: bytes) -> datetime:
    """The message's Date, as the copy's arrival time, so the Sent folder sorts it where it belongs."""
    try:
        value = BytesHeaderParser().parsebytes(raw).get("Date")
        parsed = parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        return datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
