"""Plain text derived from HTML."""

import random

from nurture.pieces import pieces
from nurture.templates.text import TextCache, html_to_text
from tests.nurture.random_html import random_cuts, random_html, variants


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


def test_a_cache_gives_exactly_the_text_of_each_email() -> None:
    generator, cache = random.Random(7), TextCache()
    for _ in range(2000):
        for html in variants(random_html(generator)):
            assert cache.html_to_text(html) == html_to_text(html), html


def test_a_cache_reading_pieces_gives_exactly_the_text_of_each_email() -> None:
    # Pieces of several lines, some ending inside a tag or a comment: read again line by line.
    generator, cache = random.Random(17), TextCache()
    for _ in range(2000):
        for html in variants(random_html(generator)):
            cuts = random_cuts(generator, html)
            assert cache.html_to_text(html, split=pieces(html, cuts)) == html_to_text(html), (html, cuts)


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
