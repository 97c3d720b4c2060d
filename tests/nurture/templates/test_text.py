"""Plain text derived from HTML."""

import random

from nurture.templates.text import TextCache, html_to_text


def test_paragraphs_breaks_and_whitespace() -> None:
    html = "<p>Hello   there,\n   friend.</p><p>Line one<br>Line two<br/>Line three</p>"
    assert html_to_text(html) == "Hello there, friend.\n\nLine one\nLine two\nLine three"


def test_links_become_text_and_url() -> None:
    html = (
        '<p>Read <a href="https://a.test/x?a=1&amp;b=2">the guide</a> or '
        '<a href="https://b.test">https://b.test</a>, mail <a href="mailto:hi@c.test">us</a>'
        '<a href="#top">top</a> <a href="https://d.test"></a></p>'
    )
    assert html_to_text(html) == (
        "Read the guide (https://a.test/x?a=1&b=2) or https://b.test, mail us (hi@c.test)top https://d.test"
    )


def test_lists_get_dashes_and_nesting() -> None:
    html = (
        "<p>Steps:</p><ul><li>One</li><li>Two<ul><li>Two a</li></ul></li></ul>"
        "<ol><li>First</li></ol><p>End</p>"
    )
    assert html_to_text(html) == "Steps:\n\n- One\n- Two\n  - Two a\n\n- First\n\nEnd"


def test_script_style_and_head_dropped_entities_decoded() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head>"
        "<body><script>alert('x')</script><h1>Caf&eacute; &amp; more &#8212; &lt;b&gt;</h1>"
        '<div>Total:&nbsp;5</div><img src="x.png" alt="Logo"><img src="p.gif" alt=""></body></html>'
    )
    assert html_to_text(html) == "Café & more — <b>\n\nTotal: 5\nLogo"


def test_tables_and_pre() -> None:
    html = (
        "<table><tr><td>Item</td><td>Price</td></tr><tr><td>Tea</td><td>3</td></tr></table>"
        "<pre>a  b\n  c</pre>"
    )
    assert html_to_text(html) == "Item Price\nTea 3\n\na  b\n  c"


def test_empty_and_plain() -> None:
    assert html_to_text("") == ""
    assert html_to_text("just text") == "just text"


# Pieces of email HTML, written to fall across lines: tags, comments, scripts and quoted values
# that run on to the next line, links and lists left open, entities, preformatted text.
_PIECES = [
    "<p>",
    "</p>",
    "<br>",
    "<br/>",
    "\n",
    "\n",
    "\n",
    "  ",
    "text",
    "more words",
    "&amp;",
    "&#65;",
    '<a href="https://x.test/',
    '">',
    "<a href='#t'>",
    "</a>",
    "<ul>",
    "</ul>",
    "<li>",
    "</li>",
    "<ol>",
    "<pre>",
    "</pre>",
    "<!--",
    "-->",
    "<script>",
    "</script>",
    "</script\n>",
    "<style>",
    "</style>",
    '<img alt="logo" src=x>',
    "<td>",
    "<tr>",
    "</td>",
    "<table>",
    "<div>",
    "</div>",
    "<h1>",
    "</h1>",
    '"',
    "'",
    "<",
    ">",
    "<!DOCTYPE html>",
    "<!x\n>",
    "<head>",
    "<title>",
    "</title>",
    "</head>",
    '<a title="a>b\nc" href="https://y.test">',
    "<p\nclass=x>",
    "</p\n>",
    "\t",
    "https://z.test/a",
]


def test_a_cache_gives_exactly_the_text_of_each_email() -> None:
    # Each document three times (the second from the cache), and once more with a line changed,
    # as the emails of one template differ; one cache for them all.
    generator = random.Random(7)
    cache = TextCache()
    for _ in range(2000):
        html = "".join(generator.choice(_PIECES) for _ in range(generator.randint(0, 60)))
        for variant in (html, html, html.replace("text", "Ada"), html + "\n"):
            assert cache.html_to_text(variant) == html_to_text(variant), variant


def test_a_cache_that_fills_up_starts_afresh() -> None:
    cache = TextCache(max_characters=100)
    emails = [f"<p>Hi {name},</p>\n<p>News.</p>\n" * 3 for name in ("Ada", "Grace", "Alan") * 20]
    assert [cache.html_to_text(html) for html in emails] == [html_to_text(html) for html in emails]


def test_emails_of_one_template_differ_only_where_their_html_does() -> None:
    cache = TextCache()
    body = '<p>Our news</p>\n<ul>\n<li><a href="https://x.test/a">\nRead\nmore</a></li>\n</ul>\n'
    for name in ("Ada", "Grace", "Ada"):
        text = cache.html_to_text(f"<h1>Hi {name},</h1>\n{body}")
        assert text == f"Hi {name},\n\nOur news\n\n- Read more (https://x.test/a)"


def test_broken_html_takes_linear_time_with_a_cache() -> None:
    # Every line leaves a quote or a comment open: each is read again with twice as many lines.
    for broken in ('<a x="\n' * 50_000, "<!--\n" * 100_000):
        assert TextCache().html_to_text(broken) == html_to_text(broken)
