"""Rewrite a message's links to signed click URLs, add the open pixel, and build unsubscribe links."""

import html as html_lib
import re
from dataclasses import dataclass

from nurture.markup import start_tags
from nurture.settings import Settings
from nurture.tracking.tokens import sign, signing_keys

_HTTP = re.compile(r"^https?://\S", re.IGNORECASE)
# Bare URLs in a text body; trailing punctuation belongs to the sentence, not the URL.
_TEXT_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
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


class _Rewriter:
    """Rewrites the links of one message, numbering distinct URLs across its HTML and text."""

    def __init__(self, *, message_id: int, settings: Settings) -> None:
        self.message_id = message_id
        self.base = settings.public_url.rstrip("/")
        self.keys = signing_keys(settings)
        self.positions: dict[str, int] = {}

    def trackable(self, url: str) -> bool:
        # Our own tracking and unsubscribe links stay as they are: wrapping the unsubscribe link
        # would count a click and hide the one-click URL from the reader.
        own = (f"{self.base}/u/", f"{self.base}/t/")
        return bool(_HTTP.match(url)) and not url.startswith(own)

    def tracked(self, url: str) -> str:
        position = self.positions.setdefault(url, len(self.positions))
        token = sign("click", message_id=self.message_id, position=position, keys=self.keys)
        return f"{self.base}/t/c/{token}"

    def pixel(self) -> str:
        token = sign("open", message_id=self.message_id, keys=self.keys)
        return f'<img src="{self.base}/t/o/{token}.gif" width="1" height="1" alt="" style="display:none">'

    def html(self, source: str) -> str:
        pieces: list[str] = []
        done = 0
        for anchor in start_tags(source, "a"):
            offset, raw = anchor.offset, anchor.raw
            spans = _attributes(raw)
            if "href" not in spans or _value(raw, spans.get("data-nurture-track")).lower() == "off":
                continue
            start, end = spans["href"]
            inner_start, inner_end = _unquote(raw[start:end])
            url = _value(raw, spans["href"])
            if not self.trackable(url):
                continue
            value_start = offset + start + inner_start
            pieces += [source[done:value_start], self.tracked(url)]
            done = offset + start + inner_end
        pieces.append(source[done:])
        rewritten = "".join(pieces)
        ends = list(_BODY_END.finditer(rewritten))
        if not ends:
            return rewritten + self.pixel()
        at = ends[-1].start()
        return rewritten[:at] + self.pixel() + rewritten[at:]

    def text(self, source: str) -> str:
        def replace(match: re.Match[str]) -> str:
            url = match.group(0)
            kept = len(url.rstrip(_TRAILING))
            # A closing parenthesis ends the URL unless the URL opened one: "(see https://x.io/a)".
            while url[:kept].endswith(")") and url[:kept].count(")") > url[:kept].count("("):
                kept = len(url[: kept - 1].rstrip(_TRAILING))
            url, rest = url[:kept], url[kept:]
            return (self.tracked(url) if self.trackable(url) else url) + rest

        return _TEXT_URL.sub(replace, source)


def _value(raw: str, span: tuple[int, int] | None) -> str:
    """An attribute's value as a browser reads it: unquoted, entities decoded, trimmed."""
    if span is None:
        return ""
    start, end = span
    inner_start, inner_end = _unquote(raw[start:end])
    return html_lib.unescape(raw[start + inner_start : start + inner_end]).strip()


def instrument(*, html: str | None, text: str | None, message_id: int, settings: Settings) -> Instrumented:
    """Rewrite the http(s) links of one message to signed click URLs and add an open pixel to its HTML.

    Distinct URLs are numbered in order of appearance, HTML first, then text; a URL seen twice
    keeps its first position. mailto:, tel:, #anchors, Nurture's own /u/ and /t/ links and
    `<a data-nurture-track="off">` are left alone, and so is every other byte of the HTML.

    Returns:
        The new bodies and the original URLs in position order, for `save_links`.
    """
    rewriter = _Rewriter(message_id=message_id, settings=settings)
    new_html = rewriter.html(html) if html is not None else None
    new_text = rewriter.text(text) if text is not None else None
    return Instrumented(html=new_html, text=new_text, urls=list(rewriter.positions))


def unsubscribe_url(settings: Settings, *, message_id: int) -> str:
    """The signed unsubscribe link of a message: a page on GET, one-click unsubscribe on POST."""
    token = sign("unsubscribe", message_id=message_id, keys=signing_keys(settings))
    return f"{settings.public_url.rstrip('/')}/u/{token}"


def unsubscribe_headers(url: str) -> dict[str, str]:
    """The RFC 2369 and RFC 8058 headers that give mail clients a one-click unsubscribe button."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
