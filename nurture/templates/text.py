"""Plain text from an email's HTML, for templates without a text body."""

import re
from collections.abc import Callable

from nurture.markup import EndTag, StartTag, tokens

# Content of these is not text a reader sees.
_SKIP = {"script", "style", "head", "title", "template", "noscript"}
# Paragraph-like blocks get a blank line around them; line-like blocks a single line break.
_PARAGRAPHS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "blockquote", "pre", "hr"}
_LINES = {"div", "tr", "li", "section", "article", "header", "footer", "center", "dl", "dt", "dd"}
# Runs of whitespace in text read as one space.
_SPACES = re.compile(r"\s+")
_GAPS = {**dict.fromkeys(_PARAGRAPHS, 2), **dict.fromkeys(_LINES, 1)}
# Start tags that do more than break lines.
_STARTS_WITH_MORE = frozenset({"br", "ul", "ol", "li", "pre", "a", "img", "td", "th"})
_VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "source", "wbr"}


class _TextWriter:
    """Writes the text a reader sees, tag by tag."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self._breaks = 0  # line breaks owed before the next text
        self._skip: list[str] = []
        self._links: list[tuple[str | None, int]] = []  # href, where the link text starts in `out`
        self._lists = 0
        self._pre = 0

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
    for count, token in enumerate(tokens(html)):
        kind = type(token)
        if kind is str:
            writer.handle_data(token)  # type: ignore[arg-type]
        elif kind is EndTag:
            writer.handle_endtag(token.name)  # type: ignore[union-attr]
        else:
            _start(writer, token)  # type: ignore[arg-type]
        if tick is not None and count % _TICK_EVERY == 0:
            tick()
    lines = [line.rstrip() for line in "".join(writer.out).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _start(writer: _TextWriter, tag: StartTag) -> None:
    attributes = tag.attributes() if tag.name in _READ_ATTRIBUTES else []
    if tag.self_closing:
        writer.handle_startendtag(tag.name, attributes)
    else:
        writer.handle_starttag(tag.name, attributes)
