"""Random email HTML that breaks across lines, for checking that caches of lines change nothing."""

import random

from nurture.pieces import cuts_around

# Tags, comments, scripts and quoted values that run on to the next line, links and lists left
# open, entities, preformatted text, stray quotes and angle brackets.
_PIECES = [
    "<p>", "</p>", "<br>", "<br/>", "\n", "\n", "\n", "  ", "text", "more words", "&amp;", "&#65;",
    '<a href="https://x.test/', '">', "<a href='#t'>", "</a>", "<ul>", "</ul>", "<li>", "</li>", "<ol>",
    "<pre>", "</pre>", "<!--", "-->", "<script>", "</script>", "</script\n>", "<style>", "</style>",
    '<img alt="logo" src=x>', "<td>", "<tr>", "</td>", "<table>", "<div>", "</div>", "<h1>", "</h1>",
    '"', "'", "<", ">", "<!DOCTYPE html>", "<!x\n>", "<head>", "<title>", "</title>", "</head>",
    '<a title="a>b\nc" href="https://y.test">', "<p\nclass=x>", "</p\n>", "\t", "https://z.test/a",
    '<A HREF=https://u.test/b data-nurture-track="off">', "<a href=\"https://v.test/&amp;c\"\n>",
]  # fmt: skip


def random_html(generator: random.Random) -> str:
    """Up to 60 pieces of HTML, joined in any order."""
    return "".join(generator.choice(_PIECES) for _ in range(generator.randint(0, 60)))


def variants(html: str) -> list[str]:
    """The same HTML twice (the second from a cache), with a line changed, and ending in a newline."""
    return [html, html, html.replace("text", "Ada"), html + "\n"]


def random_cuts(generator: random.Random, html: str) -> list[int]:
    """Pieces around a few random places in the HTML, as a template's values would be cut."""
    boundaries = [generator.randint(0, len(html)) for _ in range(generator.randint(0, 6))]
    return cuts_around(html, boundaries)
