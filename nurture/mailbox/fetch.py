"""Reading new mail from an IMAP folder by UID, without marking anything read."""

import imaplib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from nurture.mailbox.config import MailboxConfig
from nurture.mailbox.errors import MailboxRefused
from nurture.mailbox.folders import quote_name
from nurture.mailbox.imap import DEFAULT_TIMEOUT, check_ok, open_imap

_UID = re.compile(rb"\bUID (\d+)", re.I)
_NUMBER = re.compile(rb"\d+")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class FetchedMessage:
    """One message as the server keeps it."""

    uid: int
    raw: bytes


@dataclass(frozen=True)
class FetchResult:
    """What `fetch_since` found.

    Attributes:
        uid_validity: the folder's UIDVALIDITY now; store it with `last_uid`.
        last_uid: pass it as `after_uid` next time (the highest UID seen or skipped).
        messages: the new messages, oldest first.
        restarted: the stored UIDVALIDITY was None or no longer the folder's: the UIDs stored
            before mean nothing now, and reading started over (see `fetch_since`).
        more: more new messages wait beyond `limit`; call again at once.
    """

    uid_validity: int
    last_uid: int
    messages: tuple[FetchedMessage, ...]
    restarted: bool
    more: bool


def fetch_since(
    config: MailboxConfig,
    *,
    folder: str = "INBOX",
    uid_validity: int | None,
    after_uid: int,
    limit: int,
    since: date | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> FetchResult:
    """The messages that arrived in a folder after the last one read, oldest first.

    The folder is opened read-only (EXAMINE) and bodies are read with BODY.PEEK[], so nothing is
    marked read and the user's mail client shows the messages as new.

    UIDs only mean something under the UIDVALIDITY they came with. When `uid_validity` is None
    (the first read) or the folder's has changed (it was recreated, the mailbox migrated), the
    UIDs stored are thrown away and reading restarts:

    - with `since`, from the messages that arrived on or after that day (IMAP SEARCH SINCE:
      whole days, in the server's time zone); some may have been read before, so the caller
      skips those whose Message-ID it already has;
    - without `since`, from now: nothing is returned, `last_uid` is the folder's UIDNEXT - 1.

    Either way `restarted` is True, and the result's `uid_validity` and `last_uid` are what to
    store.

    Args:
        config: the mailbox.
        folder: the folder to read.
        uid_validity: the UIDVALIDITY stored with `after_uid`, or None on the first read.
        after_uid: the highest UID read before (0 for none).
        limit: at most this many messages (at least 1).
        since: where to restart from when the UIDs stored mean nothing (see above).
        timeout: seconds for connecting and for each read or write.

    Raises:
        MailboxUnavailable: transient; LoginRefused, MailboxRefused: permanent.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    with open_imap(config, timeout=timeout) as imap:
        current_validity, uid_next = examine(imap, folder)
        restarted = uid_validity != current_validity
        if restarted:
            if since is None:
                return FetchResult(current_validity, uid_next - 1, (), restarted=True, more=False)
            uids = _search(imap, "SINCE", _imap_date(since))
        else:
            # "n:*" always matches the last message, even below n: keep only the new ones.
            uids = [uid for uid in _search(imap, "UID", f"{after_uid + 1}:*") if uid > after_uid]
        taken = uids[:limit]
        messages = _fetch(imap, taken)
        # Nothing new: stay where we were, or (restarting) start after the folder's last UID.
        last_uid = taken[-1] if taken else (uid_next - 1 if restarted else after_uid)
        return FetchResult(current_validity, last_uid, messages, restarted=restarted, more=len(uids) > limit)


def examine(imap: imaplib.IMAP4, folder: str) -> tuple[int, int]:
    """Open a folder read-only (EXAMINE); its UIDVALIDITY and UIDNEXT.

    Raises:
        MailboxRefused: no such folder (the caller translates imaplib's errors).
    """
    typ, data = imap.select(quote_name(folder), readonly=True)
    check_ok(typ, data, doing=f"EXAMINE {folder}")
    validity = _first_int(imap.response("UIDVALIDITY")[1])
    uid_next = _first_int(imap.response("UIDNEXT")[1])
    if validity is None or uid_next is None:
        # Both are required in the EXAMINE answer since RFC 3501, but ask again if not.
        typ, data = imap.status(quote_name(folder), "(UIDVALIDITY UIDNEXT)")
        check_ok(typ, data, doing=f"STATUS {folder}")
        status = b" ".join(item for item in data if isinstance(item, bytes))
        validity = validity or _first_int(re.findall(rb"UIDVALIDITY (\d+)", status))
        uid_next = uid_next or _first_int(re.findall(rb"UIDNEXT (\d+)", status))
    if validity is None:
        raise MailboxRefused(f"the IMAP server gives no UIDVALIDITY for {folder}", failure="command")
    if uid_next is None:
        uids = _search(imap, "ALL")
        uid_next = (uids[-1] if uids else 0) + 1
    return validity, uid_next


def _imap_date(day: date) -> str:
    # "1-Apr-2025", with English month names whatever the locale (strftime's %b follows it).
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}"


def _search(imap: imaplib.IMAP4, *criteria: str) -> list[int]:
    typ, data = imap.uid("SEARCH", *criteria)
    check_ok(typ, data, doing="UID SEARCH")
    found = b" ".join(item for item in data if isinstance(item, bytes))
    return sorted({int(number) for number in _NUMBER.findall(found)})


def _fetch(imap: imaplib.IMAP4, uids: list[int]) -> tuple[FetchedMessage, ...]:
    if not uids:
        return ()
    typ, data = imap.uid("FETCH", ",".join(map(str, uids)), "(UID BODY.PEEK[])")
    check_ok(typ, data, doing="UID FETCH")
    # Each message is (b'N (UID u BODY[] {size}', body) then b')'; some servers (pymap) write
    # UID after the body, in that closing piece. Lines without a body are flag updates.
    wanted = set(uids)
    found: dict[int, bytes] = {}
    for index, item in enumerate(data):
        if not isinstance(item, tuple):
            continue
        head, body = item
        closing = data[index + 1] if index + 1 < len(data) else b""
        match = _UID.search(head) or (_UID.search(closing) if isinstance(closing, bytes) else None)
        if match is not None and int(match[1]) in wanted:
            found[int(match[1])] = body
    # A message expunged meanwhile is simply missing.
    return tuple(FetchedMessage(uid, found[uid]) for uid in uids if uid in found)


def _first_int(values: Sequence[object]) -> int | None:
    for value in values:
        if isinstance(value, bytes) and value.strip().isdigit():
            return int(value)
    return None
