"""Rewrite a message's links to signed click URLs, add the open pixel, and build unsubscribe links."""

import html as html_lib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from nurture.markup import CutShort, StartTag, start_tags, tokens
from nurture.settings import Settings
from nurture.tracking.tokens import Purpose, sign, signing_keys

_HTTP = re.compile(r"^https?://\S", re.IGNORECASE)
# Bare URLs in a text body, found by what follows their scheme (see `_text_urls`); trailing
# punctuation belongs to the sentence, not the URL.
_AFTER_SCHEME = re.compile(r"://[^\s<>\"'`]+")
_TRAILING = ".,;:!?"
# One attribute of a start tag, as html.parser reads it: name, then an optional value.
_ATTR = re.compile(r"""([^\s/>=][^\s/>=]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]*))?[\s/]*""")
_TAG_NAME = re.compile(r"<[a-zA-Z][^\s/>]*[\s/]*")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Instrumented:
    """A message's bodies with tracked links and pixel, and the original URLs by position."""

    html: str | None
    text: str | None
    urls: list[str]


def _attributes(raw: str) -> dict[str, tuple[int, int]]:
    """The span of each attribute's raw value in a start tag (the first of a repeated name wins)."""
    spans: dict[str, tuple[int, int]] = {}
    start = _TAG_NAME.match(raw)
    position = start.end() if start else len(raw)
    while position < len(raw):
        match = _ATTR.match(raw, position)
        if match is None or match.end() == position:
            break
        name = match.group(1).lower()
        if name not in spans:
            spans[name] = match.span(2) if match.group(2) is not None else (match.end(1), match.end(1))
        position = match.end()
    return spans


def _unquote(raw_value: str) -> tuple[int, int]:
    """The span of the value inside its quotes, relative to the raw value."""
    if len(raw_value) >= 2 and raw_value[0] in "\"'" and raw_value[-1] == raw_value[0]:
        return 1, len(raw_value) - 1
    return 0, len(raw_value)


# The token of a purpose and a link position for one message: signed, or a stand-in (`Slots`).
Tokens = Callable[[Purpose, int], str]


def signer(message_id: int, settings: Settings) -> Tokens:
    """The tokens of this message, signed with the current key."""
    keys = signing_keys(settings)
    return lambda purpose, position: sign(purpose, message_id=message_id, position=position, keys=keys)


class _Rewriter:
    """Rewrites the links of one message, numbering distinct URLs across its HTML and text."""

    def __init__(self, *, tokens: Tokens, settings: Settings) -> None:
        self.tokens = tokens
        self.base = settings.public_url.rstrip("/")
        self.positions: dict[str, int] = {}

    def trackable(self, url: str) -> bool:
        # Our own tracking and unsubscribe links stay as they are: wrapping the unsubscribe link
        # would count a click and hide the one-click URL from the reader.
        own = (f"{self.base}/u/", f"{self.base}/t/")
        return bool(_HTTP.match(url)) and not url.startswith(own)

    def tracked(self, url: str) -> str:
        position = self.positions.setdefault(url, len(self.positions))
        return f"{self.base}/t/c/{self.tokens('click', position)}"

    def pixel(self) -> str:
        token = self.tokens("open", 0)
        return f'<img src="{self.base}/t/o/{token}.gif" width="1" height="1" alt="" style="display:none">'

    def html(self, source: str, lines: "LinkLines | None", split: Sequence[str] | None) -> str:
        parts: list[str] = []
        done = 0
        for value_start, value_end, url in (
            lines.links(source, split) if lines is not None else _links(source)
        ):
            if not self.trackable(url):
                continue
            parts += [source[done:value_start], self.tracked(url)]
            done = value_end
        parts.append(source[done:])
        rewritten = "".join(parts)
        ends = list(_BODY_END.finditer(rewritten))
        if not ends:
            return rewritten + self.pixel()
        at = ends[-1].start()
        return rewritten[:at] + self.pixel() + rewritten[at:]

    def text(self, source: str) -> str:
        def replace(url: str) -> str:
            kept = len(url.rstrip(_TRAILING))
            # A closing parenthesis ends the URL unless the URL opened one: "(see https://x.io/a)".
            while url[:kept].endswith(")") and url[:kept].count(")") > url[:kept].count("("):
                kept = len(url[: kept - 1].rstrip(_TRAILING))
            url, rest = url[:kept], url[kept:]
            return (self.tracked(url) if self.trackable(url) else url) + rest

        parts, done = [], 0
        for start, end in _text_urls(source):
            parts += [source[done:start], replace(source[start:end])]
            done = end
        parts.append(source[done:])
        return "".join(parts)


def _text_urls(text: str) -> Iterator[tuple[int, int]]:
    """Where each bare http(s) URL of a text is: what `https?://[^\\s<>"'`]+`, ignoring case, finds.

    That pattern, starting with no fixed string, is tried at every character of the text; its
    `://` is a fixed string, found at C speed, and the scheme is read back from before it.
    """
    search = 0
    while (found := _AFTER_SCHEME.search(text, search)) is not None:
        # The URL before ends at a space, quote or bracket, never at a letter of this scheme.
        at, search = found.start(), found.end()
        scheme = text[max(at - 5, 0) : at].lower()
        if scheme.endswith("https"):
            yield at - 5, search
        elif scheme.endswith("http"):
            yield at - 4, search
        else:
            search = at + 1


# A link's href value, inside its quotes (start and end offsets in the HTML), and its URL.
_Link = tuple[int, int, str]


def _link(anchor: StartTag) -> _Link | None:
    """Where the href value of an `<a>` tag is and what URL it holds; None for no href or tracking off."""
    offset, raw = anchor.offset, anchor.raw
    spans = _attributes(raw)
    if "href" not in spans or _value(raw, spans.get("data-nurture-track")).lower() == "off":
        return None
    start, end = spans["href"]
    inner_start, inner_end = _unquote(raw[start:end])
    return offset + start + inner_start, offset + start + inner_end, _value(raw, spans["href"])


def _links(html: str) -> list[_Link]:
    """Every link of the HTML, in order."""
    return [link for anchor in start_tags(html, "a") if (link := _link(anchor)) is not None]


# A cache stops remembering (and starts afresh) past this many characters of HTML.
CACHE_CHARACTERS = 4_000_000
# What a cache's `get` gives for a piece never scanned (None is a piece cut short).
_UNKNOWN: Any = object()


class LinkLines:
    """`_links` for many emails of one batch, each line of HTML scanned once.

    The emails of a newsletter differ in a few lines; the others are looked up. A line that
    ends inside a tag, comment, script or style is scanned with the lines after it, two, then
    four... (as `TextCache` does), so the links found are exactly `_links`'s.
    """

    def __init__(self, *, max_characters: int = CACHE_CHARACTERS) -> None:
        # By a piece of lines (without its last newline) and whether more follows it: its links,
        # offsets from the piece's start; None where the piece was cut short.
        self._pieces: dict[tuple[str, bool], tuple[_Link, ...] | None] = {}
        self._characters = 0
        self._max_characters = max_characters

    def links(self, html: str, split: Sequence[str] | None = None) -> list[_Link]:
        """The same as `_links(html)`, sooner for lines seen before.

        `split` is the HTML already cut into pieces of whole lines (`nurture.pieces.pieces`), each
        looked up at once; without it, each line is a piece.
        """
        get, found = self._pieces.get, list[_Link]()
        lines = list(split) if split is not None else html.split("\n")
        at, offset, count = 0, 0, len(lines)
        while at < count:
            taken, body, more = 1, lines[at], at + 1 < count
            piece = get((body, more), _UNKNOWN)
            if piece is _UNKNOWN:
                piece = self._scan((body, more))
            if piece is None and "\n" in body:
                # A piece of several lines cut short: from here on, line by line.
                lines[at : at + 1] = body.split("\n")
                count = len(lines)
                continue
            while piece is None:  # cut short: scan again with twice as many lines
                taken *= 2
                body, more = "\n".join(lines[at : at + taken]), at + taken < count
                piece = get((body, more), _UNKNOWN)
                if piece is _UNKNOWN:
                    piece = self._scan((body, more))
            if piece:
                found += [(offset + start, offset + end, url) for start, end, url in piece]
            offset += len(body) + 1
            at += taken
        return found

    def _scan(self, key: tuple[str, bool]) -> tuple[_Link, ...] | None:
        body, more_follows = key
        # Text alone (a name, a city) starts no tag, so holds no link.
        piece = self._tags(body, more_follows) if "<" in body else ()
        self._characters += len(body)
        if self._characters > self._max_characters:
            self._pieces.clear()
            self._characters = 0
        self._pieces[key] = piece
        return piece

    @staticmethod
    def _tags(body: str, more_follows: bool) -> tuple[_Link, ...] | None:
        try:
            anchors = [
                token
                for token in tokens(body + "\n" if more_follows else body, more_follows=more_follows)
                if type(token) is StartTag and token.name == "a"
            ]
        except CutShort:
            return None
        return tuple(link for anchor in anchors if (link := _link(anchor)) is not None)


def _value(raw: str, span: tuple[int, int] | None) -> str:
    """An attribute's value as a browser reads it: unquoted, entities decoded, trimmed."""
    if span is None:
        return ""
    start, end = span
    inner_start, inner_end = _unquote(raw[start:end])
    return html_lib.unescape(raw[start + inner_start : start + inner_end]).strip()


def instrument(
    *,
    html: str | None,
    text: str | None,
    settings: Settings,
    message_id: int | None = None,
    tokens: Tokens | None = None,
    lines: LinkLines | None = None,
    split: Sequence[str] | None = None,
) -> Instrumented:
    """Rewrite the http(s) links of one message to signed click URLs and add an open pixel to its HTML.

    Distinct URLs are numbered in order of appearance, HTML first, then text; a URL seen twice
    keeps its first position. mailto:, tel:, #anchors, Nurture's own /u/ and /t/ links and
    `<a data-nurture-track="off">` are left alone, and so is every other byte of the HTML.
    The tokens are signed for `message_id`, or made by `tokens` (stand-ins, say). `lines`
    remembers the links of lines seen in earlier emails (a batch's emails share most), looked
    up in the HTML's pieces `split` (see `LinkLines.links`), or line by line.

    Returns:
        The new bodies and the original URLs in position order, for `save_links`.
    """
    if tokens is None:
        if message_id is None:
            raise TypeError("instrument needs a message_id or tokens")
        tokens = signer(message_id, settings)
    rewriter = _Rewriter(tokens=tokens, settings=settings)
    new_html = rewriter.html(html, lines, split) if html is not None else None
    new_text = rewriter.text(text) if text is not None else None
    return Instrumented(html=new_html, text=new_text, urls=list(rewriter.positions))


def unsubscribe_url(
    settings: Settings, *, message_id: int | None = None, tokens: Tokens | None = None
) -> str:
    """The signed unsubscribe link of a message: a page on GET, one-click unsubscribe on POST.

    Signed for `message_id`, or with the token `tokens` makes.
    """
    if tokens is None:
        if message_id is None:
            raise TypeError("unsubscribe_url needs a message_id or tokens")
        tokens = signer(message_id, settings)
    return f"{settings.public_url.rstrip('/')}/u/{tokens('unsubscribe', 0)}"


def unsubscribe_headers(url: str) -> dict[str, str]:
    """The RFC 2369 and RFC 8058 headers that give mail clients a one-click unsubscribe button."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
