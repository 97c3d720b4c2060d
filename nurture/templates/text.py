"""Plain text from an email's HTML, for templates without a text body."""

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from nurture.markup import CutShort, EndTag, StartTag, tokens

# Content of these is not text a reader sees.
_SKIP = {"script", "style", "head", "title", "template", "noscript"}
# Paragraph-like blocks get a blank line around them; line-like blocks a single line break.
_PARAGRAPHS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "blockquote", "pre", "hr"}
_LINES = {"div", "tr", "li", "section", "article", "header", "footer", "center", "dl", "dt", "dd"}
# Runs of whitespace in text read as one space.
_SPACES = re.compile(r"\s+")
# More than one blank line in a row. Written out, not as `\n{3,}`: a pattern that starts with a
# literal string is searched for at C speed, fifteen times sooner over an email's text.
_BLANK_LINES = re.compile(r"\n\n\n+")
_GAPS = {**dict.fromkeys(_PARAGRAPHS, 2), **dict.fromkeys(_LINES, 1)}
# Start tags that do more than break lines.
_STARTS_WITH_MORE = frozenset({"br", "ul", "ol", "li", "pre", "a", "img", "td", "th"})
_VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "source", "wbr"}


class _Reading(NamedTuple):
    """Where a writer stands between two pieces of HTML: all that what it writes next depends on."""

    breaks: int
    skip: tuple[str, ...]
    # Each open link's href and the text written since it opened.
    links: tuple[tuple[str | None, str], ...]
    lists: int
    pre: int
    # The last character written, as far as it matters: "" (nothing yet), "\n", " " or "x".
    last: str


_START = _Reading(0, (), (), 0, 0, "")


class _TextWriter:
    """Writes the text a reader sees, tag by tag."""

    def __init__(self, reading: _Reading = _START) -> None:
        """A writer going on from `reading`; `out[self.resumed_at:]` is what it writes."""
        self.out: list[str] = []
        self._breaks = reading.breaks  # line breaks owed before the next text
        self._skip: list[str] = list(reading.skip)
        self._links: list[tuple[str | None, int]] = []  # href, where the link text starts in `out`
        self._lists = reading.lists
        self._pre = reading.pre
        if reading.last:
            # Stands for the text before, which only ever shows through its last character.
            self.out.append(reading.last)
        for at, (href, text) in enumerate(reading.links):
            self._links.append((href, len(self.out)))
            following = reading.links[at + 1][1] if at + 1 < len(reading.links) else ""
            # An inner link's text is the end of its outer link's text.
            if head := text[: len(text) - len(following)]:
                self.out.append(head)
        self.resumed_at = len(self.out)

    def reading(self) -> _Reading:
        """Where this writer stands now."""
        last = self.out[-1][-1] if self.out else ""
        links = tuple((href, "".join(self.out[start:])) for href, start in self._links)
        return _Reading(
            self._breaks, tuple(self._skip), links, self._lists, self._pre, last if last in "\n " else "x"
        )

    def _break(self, count: int) -> None:
        if count > self._breaks:
            self._breaks = count

    def _write(self, text: str) -> None:
        if self._breaks and self.out:
            self.out.append("\n" * self._breaks)
        self._breaks = 0
        self.out.append(text)

    def _at_line_start(self) -> bool:
        return not self.out or self._breaks > 0 or self.out[-1].endswith(("\n", " "))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip:
            if tag == self._skip[-1] and tag not in _VOID:
                self._skip.append(tag)
            return
        if tag in _SKIP:
            self._skip.append(tag)
            return
        self._break(self._gap(tag))
        if tag not in _STARTS_WITH_MORE:
            return
        if tag == "br":
            self._write("\n")
        elif tag in ("ul", "ol"):
            self._lists += 1
        elif tag == "li":
            self._break(1)
            self._write("  " * max(self._lists - 1, 0) + "- ")
        elif tag == "pre":
            self._pre += 1
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), len(self.out)))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self.handle_data(alt)
        elif tag in ("td", "th") and not self._at_line_start():
            self._write(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
            return
        if tag in ("ul", "ol"):
            self._lists = max(self._lists - 1, 0)
        elif tag == "pre":
            self._pre = max(self._pre - 1, 0)
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            self._end_link(href, start)
        self._break(self._gap(tag))

    def _gap(self, tag: str) -> int:
        # Counted before a list opens and after it closes, so this is true only for nested lists.
        if self._lists > 0 and (tag == "ul" or tag == "ol"):
            return 1  # a list inside a list item continues it
        return _GAPS.get(tag, 0)

    def _end_link(self, href: str | None, start: int) -> None:
        href = (href or "").strip()
        text = " ".join("".join(self.out[start:]).split())
        # Anchors and scripts lead nowhere a reader of plain text can follow.
        if not href or href.startswith(("#", "javascript:")):
            return
        shown = href.removeprefix("mailto:").removeprefix("tel:")
        if not text:
            self._write(shown)
        elif text not in (href, shown):
            self._write(f" ({shown if href.startswith(('mailto:', 'tel:')) else href})")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre:
            self._write(data)
            return
        text = _SPACES.sub(" ", data)
        if self._at_line_start():
            text = text.lstrip()
        if text:
            self._write(text)


# Between this many tags and texts the caller can stop a conversion taking too long.
_TICK_EVERY = 256
# Only these tags' attributes are read (a link's href, an image's alt text).
_READ_ATTRIBUTES = frozenset({"a", "img"})


def html_to_text(html: str, *, tick: Callable[[], None] | None = None) -> str:
    """Readable plain text for an HTML email.

    Paragraphs and `<br>` become line breaks, links `text (url)`, list items `- item`; scripts,
    styles and the head are dropped, entities decoded and runs of whitespace collapsed.

    Args:
        html: the HTML.
        tick: called every few hundred tags; it may raise to stop a conversion taking too long.
    """
    writer = _TextWriter()
    _write(writer, html, more_follows=False, tick=tick)
    return _finish("".join(writer.out))


def _write(writer: _TextWriter, html: str, *, more_follows: bool, tick: Callable[[], None] | None) -> None:
    for count, token in enumerate(tokens(html, more_follows=more_follows)):
        kind = type(token)
        if kind is str:
            writer.handle_data(token)  # type: ignore[arg-type]
        elif kind is EndTag:
            writer.handle_endtag(token.name)  # type: ignore[union-attr]
        else:
            _start(writer, token)  # type: ignore[arg-type]
        if tick is not None and count % _TICK_EVERY == 0:
            tick()


def _finish(written: str) -> str:
    lines = [line.rstrip() for line in written.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# What a piece of HTML came to for a writer standing somewhere: the text, where the writer then
# stands, and the pieces known for a writer standing there; None where the piece was cut short.
_Piece = tuple[str, _Reading, "_Pieces"] | None
# The pieces known for a writer standing somewhere, by their lines (without the newline that ends
# the last) and whether more follows (then they did end with a newline).
_Pieces = dict[tuple[str, bool], _Piece]
# A cache stops remembering (and starts afresh) past this many characters of HTML and text.
CACHE_CHARACTERS = 4_000_000
# What a table's `get` gives for a piece never converted (None is a piece cut short).
_UNKNOWN: Any = object()


class TextCache:
    """`html_to_text` for many emails of one template, each line converted once.

    The emails of a newsletter differ in a few lines (a name, a city). Each line of HTML is
    converted once for each way a reader can arrive at it (inside a list, a link, owing a line
    break...), then remembered: the other emails look it up. A line that ends inside a tag,
    comment, script or style is converted with the lines after it, two, then four... so the
    text is exactly `html_to_text`'s, and broken HTML still takes linear time.
    """

    def __init__(self, *, max_characters: int = CACHE_CHARACTERS) -> None:
        # A table of pieces for each way of standing; a piece leads to the next table, so a
        # line found in the cache costs one lookup by its text.
        self._tables: dict[_Reading, _Pieces] = {}
        self._characters = 0
        self._max_characters = max_characters

    def html_to_text(
        self, html: str, *, split: Sequence[str] | None = None, tick: Callable[[], None] | None = None
    ) -> str:
        """The same as `html_to_text(html, tick=tick)`, sooner for lines seen before.

        `split` is the HTML already cut into pieces of whole lines (`nurture.pieces.pieces`), each
        looked up at once; without it, each line is a piece.
        """
        reading, table, written = _START, self._table(_START), []
        lines = list(split) if split is not None else html.split("\n")
        at, total = 0, len(lines)
        count = total if lines[-1] else total - 1  # the HTML may end with a newline
        while at < count:
            taken, body, more = 1, lines[at], at + 1 < total
            piece = table.get((body, more), _UNKNOWN)
            if piece is _UNKNOWN:
                piece = self._convert(reading, table, body, more, tick)
            if piece is None and "\n" in body:
                # A piece of several lines cut short: from here on, line by line.
                lines[at : at + 1] = body.split("\n")
                total = len(lines)
                count = total if lines[-1] else total - 1
                continue
            while piece is None:  # cut short: read again with twice as many lines
                taken *= 2
                body, more = "\n".join(lines[at : at + taken]), at + taken < total
                piece = table.get((body, more), _UNKNOWN)
                if piece is _UNKNOWN:
                    piece = self._convert(reading, table, body, more, tick)
            text, reading, table = piece
            written.append(text)
            at += taken
            if tick is not None and at % _TICK_EVERY == 0:
                tick()
        return _finish("".join(written))

    def _table(self, reading: _Reading) -> _Pieces:
        return self._tables.setdefault(reading, {})

    def _convert(
        self,
        reading: _Reading,
        table: _Pieces,
        body: str,
        more_follows: bool,
        tick: Callable[[], None] | None,
    ) -> _Piece:
        writer = _TextWriter(reading)
        piece: _Piece
        try:
            _write(writer, body + "\n" if more_follows else body, more_follows=more_follows, tick=tick)
            after = writer.reading()
            piece = "".join(writer.out[writer.resumed_at :]), after, self._table(after)
        except CutShort:
            piece = None
        self._characters += len(body) + (len(piece[0]) if piece else 0)
        if self._characters > self._max_characters:
            # Tables in use stay right for their readings; they are only no longer shared.
            self._tables.clear()
            self._characters = 0
        table[(body, more_follows)] = piece
        return piece


def _start(writer: _TextWriter, tag: StartTag) -> None:
    attributes = tag.attributes() if tag.name in _READ_ATTRIBUTES else []
    if tag.self_closing:
        writer.handle_startendtag(tag.name, attributes)
    else:
        writer.handle_starttag(tag.name, attributes)
