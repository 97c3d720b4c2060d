"""HTML read as a browser reads it, one tag at a time, fast: what plain text and link tracking scan.

Python's html.parser costs about a millisecond for a newsletter's HTML, once for its plain
text and once more for its links: more than rendering the template. This scanner finds the
next `<` with the regex engine and handles only tags, so an email costs a tenth of that. It
reads HTML as html.parser does: comments, `<!...>` and `<?...>` are skipped, the content of
`<script>` and `<style>` is not markup, a `<` that opens no tag is text, an attribute value
may hold `>` inside quotes, and character references in text are decoded.
"""

import re
from collections.abc import Iterator
from html import unescape
from typing import NamedTuple

# One piece of markup: a comment, a declaration or instruction, an end tag or a start tag. A
# start tag's quoted values may hold `>`; a stray quote is a plain character. Every branch
# ends at its `>` or at the end of the text, so no position is ever scanned twice: however
# broken the HTML, scanning it takes linear time.
_MARKUP = re.compile(
    r"<(?:(?P<comment>!--)|(?P<declaration>[!?])[^>]*(?:>|\Z)"
    r"|/(?P<end>[a-zA-Z][^\t\n\r\f />\x00]*)[^>]*(?P<end_closed>>|\Z)"
    r"|(?P<start>[a-zA-Z][^\t\n\r\f />\x00]*)(?:[^>\"']|\"[^\"]*\"|'[^']*'|[\"'])*(?P<start_closed>>|\Z))"
)
# One attribute, as html.parser reads it: a name, then an optional value.
_ATTRIBUTE = re.compile(
    r"""((?<=['"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*('[^']*'|"[^"]*"|(?!['"])[^>\s]*))?(?:\s|/(?!>))*"""
)
_COMMENT_END = re.compile(r"--!?>")
# A start tag whose every quote is paired: one that used no stray quote.
_PAIRED_QUOTES = re.compile(r"<[^\"']*(?:(?:\"[^\"]*\"|'[^']*')[^\"']*)*")
# Elements whose content is text for a script or a style sheet, never tags.
_RAW_TEXT = frozenset({"script", "style"})
_RAW_TEXT_END = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in _RAW_TEXT}


class StartTag(NamedTuple):
    """`<name ...>` at `offset`; `raw` is the whole tag as written."""

    name: str
    offset: int
    raw: str

    @property
    def self_closing(self) -> bool:
        """Written `<name ... />`."""
        return self.raw.endswith("/>")

    def attributes(self) -> list[tuple[str, str | None]]:
        """The attributes in order, names lowercased, values unquoted and decoded (None without `=`)."""
        found: list[tuple[str, str | None]] = []
        body = self.raw[len(self.name) + 1 : -1]
        for match in _ATTRIBUTE.finditer(" " + body):
            name, value = match.group(1), match.group(3)
            if value is not None and value[:1] in "'\"" and value[-1:] == value[:1] and len(value) > 1:
                value = value[1:-1]
            found.append((name.lower(), unescape(value) if value is not None else None))
        return found


class EndTag(NamedTuple):
    """`</name>`."""

    name: str


Token = StartTag | EndTag | str


class CutShort(Exception):
    """A piece of HTML ends inside a tag, comment, script or style: what follows would change it."""


def tokens(html: str, *, more_follows: bool = False) -> Iterator[Token]:
    """The start tags, end tags and text (references decoded) of `html`, in order.

    Args:
        html: the HTML.
        more_follows: `html` is a piece of a document, cut just after a newline. Its tokens are
            those the whole document has there, or `CutShort` is raised (after the tokens
            before it) where a construct may run on past the cut: a tag, comment, script or
            style left open, or a quote left unpaired in a tag (the rest may pair it).
    """
    position, length = 0, len(html)
    search = _MARKUP.search
    while position < length:
        match = search(html, position)
        if match is not None and more_follows and _may_run_on(match):
            raise CutShort
        if match is None or not _closed(match):
            # No more markup: a tag left open at the very end is text, as html.parser has it.
            yield _text(html[position:])
            return
        at, end = match.span()
        if at > position:
            yield _text(html[position:at])
        position = end
        if match.group("comment"):
            close = _COMMENT_END.search(html, end)
            if close is None and more_follows:
                raise CutShort
            position = close.end() if close else length
        elif (name := match.group("start")) is not None:
            tag = StartTag(name.lower(), at, match.group())
            yield tag
            if tag.name in _RAW_TEXT and not tag.self_closing:
                close = _RAW_TEXT_END[tag.name].search(html, end)
                if close is None and more_follows:
                    raise CutShort
                position = close.start() if close else length
                if position > end:
                    yield html[end:position]  # script and style text, as written
        elif (name := match.group("end")) is not None:
            yield EndTag(name.lower())


def _may_run_on(match: re.Match[str]) -> bool:
    # A construct that reached the cut, or a start tag that took a quote as a plain character
    # only because the piece holds no closing one.
    raw = match.group()
    if match.group("comment"):
        return False  # its end is looked for next
    if match.group("declaration"):
        return not raw.endswith(">")
    if not _closed(match):
        return True
    return (
        match.group("start") is not None
        and ('"' in raw or "'" in raw)
        and (_PAIRED_QUOTES.fullmatch(raw, 0, len(raw) - 1) is None)
    )


def _closed(match: re.Match[str]) -> bool:
    # A tag that runs to the end of the text without its `>` is not a tag.
    return bool(match.group("start_closed") or match.group("end_closed")) or (
        match.group("start") is None and match.group("end") is None
    )


def _text(raw: str) -> str:
    return unescape(raw) if "&" in raw else raw


def start_tags(html: str, name: str) -> Iterator[StartTag]:
    """Every real `<name ...>` start tag of `html` (not those in comments, scripts or styles).

    Like `tokens`, without decoding any text: the regex engine walks from tag to tag.
    """
    position, length = 0, len(html)
    search = _MARKUP.search
    # Each search starts where the last comment, script or style ended: a match begun inside
    # one could run on past its end and hide the tags after it.
    while (match := search(html, position)) is not None:
        if not _closed(match):
            return
        position = match.end()
        if match.group("comment"):
            close = _COMMENT_END.search(html, position)
            position = close.end() if close else length
            continue
        found = match.group("start")
        if found is None:
            continue
        found = found.lower()
        if found == name:
            yield StartTag(found, match.start(), match.group())
        elif found in _RAW_TEXT and not match.group().endswith("/>"):
            close = _RAW_TEXT_END[found].search(html, position)
            position = close.start() if close else length
