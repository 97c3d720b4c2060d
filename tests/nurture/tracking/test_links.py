"""Link instrumentation: links become signed click URLs, the rest of the email stays as written."""

import random
import re

from nurture.pieces import pieces
from nurture.settings import Settings
from nurture.tracking.links import LinkLines, _text_urls, instrument, unsubscribe_headers, unsubscribe_url
from nurture.tracking.tokens import signing_keys, verify
from tests.nurture.random_html import random_cuts, random_html, variants

SETTINGS = Settings(public_url="https://mail.example.com/", secret_key="links-test-secret")
CLICK = re.compile(r"https://mail\.example\.com/t/c/([A-Za-z0-9_-]+)")


def _claims(url: str) -> tuple[int, int]:
    match = CLICK.fullmatch(url)
    assert match, url
    claims = verify("click", match.group(1), keys=signing_keys(SETTINGS))
    assert claims is not None
    return claims.message_id, claims.position


def _hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


def test_links_are_rewritten_with_stable_positions() -> None:
    html = (
        '<p><a href="https://a.example/x">A</a> <a href="https://b.example/">B</a> '
        '<a href="https://a.example/x">A again</a></p>'
    )
    result = instrument(html=html, text=None, message_id=31, settings=SETTINGS)
    assert result.urls == ["https://a.example/x", "https://b.example/"]
    assert [_claims(href) for href in _hrefs(result.html or "")] == [(31, 0), (31, 1), (31, 0)]


def test_the_rest_of_the_html_is_unchanged_byte_for_byte() -> None:
    html = (
        "<!DOCTYPE html>\n<html><head><style>a { color: red }</style></head>\n"
        "<BODY class='x'>\n  <!-- <a href=\"https://in-comment.example\"> -->\n"
        "  <a  class = \"btn\"\tHREF='https://a.example/?q=1&amp;r=2' title='see href=\"no\"'>Go</a>\n"
        "  <script>var s = '<a href=\"https://in-script.example\">';</script>\n"
        "  <a href=https://unquoted.example/p>u</a> caf\u00e9 &nbsp; &copy;\n</BODY></html>"
    )
    result = instrument(html=html, text=None, message_id=4, settings=SETTINGS)
    assert result.urls == ["https://a.example/?q=1&r=2", "https://unquoted.example/p"]
    new = result.html or ""
    # Put the original URLs back and drop the pixel: exactly the input again.
    pixel = re.search(r'<img src="https://mail\.example\.com/t/o/[^"]+\.gif"[^>]*>', new)
    assert pixel is not None
    restored = new.replace(pixel.group(0), "")
    restored = CLICK.sub(
        lambda m: ["https://a.example/?q=1&amp;r=2", "https://unquoted.example/p"][_claims(m.group(0))[1]],
        restored,
    )
    assert restored == html
    assert "https://in-comment.example" in new and "https://in-script.example" in new


def test_mailto_tel_anchors_unsubscribe_and_opted_out_links_are_kept() -> None:
    unsubscribe = unsubscribe_url(SETTINGS, message_id=8)
    html = (
        '<a href="mailto:hi@example.com">m</a><a href="tel:+3312345">t</a><a href="#top">a</a>'
        f'<a href="/relative">r</a><a href="{unsubscribe}">unsubscribe</a>'
        '<a data-nurture-track="off" href="https://private.example/">p</a><a name="x">no href</a>'
        '<a href="https://tracked.example/">tracked</a>'
    )
    result = instrument(html=html, text=None, message_id=8, settings=SETTINGS)
    assert result.urls == ["https://tracked.example/"]
    hrefs = _hrefs(result.html or "")
    assert hrefs[:6] == [
        "mailto:hi@example.com",
        "tel:+3312345",
        "#top",
        "/relative",
        unsubscribe,
        "https://private.example/",
    ]
    assert _claims(hrefs[6]) == (8, 0)


def test_pixel_goes_before_body_end_or_at_the_end() -> None:
    with_body = instrument(
        html="<html><body><p>Hi</p></body></html>", text=None, message_id=2, settings=SETTINGS
    )
    match = re.fullmatch(
        r'<html><body><p>Hi</p><img src="https://mail\.example\.com/t/o/([A-Za-z0-9_-]+)\.gif" width="1" '
        r'height="1" alt="" style="display:none"></body></html>',
        with_body.html or "",
    )
    assert match is not None
    claims = verify("open", match.group(1), keys=signing_keys(SETTINGS))
    assert claims is not None and claims.message_id == 2
    fragment = instrument(html="<p>Hi</p>", text=None, message_id=2, settings=SETTINGS)
    assert (fragment.html or "").startswith("<p>Hi</p><img src=") and (fragment.html or "").endswith(">")
    assert instrument(html=None, text="Hi", message_id=2, settings=SETTINGS).html is None


def test_text_urls_are_rewritten_sharing_positions_with_html() -> None:
    text = (
        "Read https://b.example/post. Or see (https://c.example/a) and https://a.example/x!\n"
        "Wiki: https://w.example/A_(b) mail me@example.com, unsubscribe: "
        + unsubscribe_url(SETTINGS, message_id=6)
    )
    result = instrument(
        html='<a href="https://a.example/x">A</a>', text=text, message_id=6, settings=SETTINGS
    )
    assert result.urls == [
        "https://a.example/x",
        "https://b.example/post",
        "https://c.example/a",
        "https://w.example/A_(b)",
    ]
    new = result.text or ""
    urls = CLICK.findall(new)
    assert len(urls) == 4
    assert CLICK.sub("URL", new) == (
        "Read URL. Or see (URL) and URL!\nWiki: URL mail me@example.com, unsubscribe: "
        + unsubscribe_url(SETTINGS, message_id=6)
    )
    positions = [_claims(m.group(0))[1] for m in CLICK.finditer(new)]
    assert positions == [1, 2, 0, 3]


def test_no_links_no_urls() -> None:
    result = instrument(html=None, text="No links here.", message_id=1, settings=SETTINGS)
    assert (result.text, result.urls) == ("No links here.", [])


def test_unsubscribe_url_and_headers() -> None:
    url = unsubscribe_url(SETTINGS, message_id=99)
    token = url.removeprefix("https://mail.example.com/u/")
    claims = verify("unsubscribe", token, keys=signing_keys(SETTINGS))
    assert claims is not None and claims.message_id == 99
    assert verify("click", token, keys=signing_keys(SETTINGS)) is None
    assert unsubscribe_headers(url) == {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_a_cache_of_lines_finds_the_very_same_links_as_a_scan_of_the_whole_email() -> None:
    generator, lines, tracked = random.Random(11), LinkLines(), 0
    for _ in range(400):
        for html in variants(random_html(generator)):
            cached = instrument(html=html, text=None, message_id=5, settings=SETTINGS, lines=lines)
            assert cached == instrument(html=html, text=None, message_id=5, settings=SETTINGS), html
            tracked += len(cached.urls)
    assert tracked > 500  # the random emails do hold links, across lines too


def test_a_cache_reading_pieces_finds_the_very_same_links_as_a_scan_of_the_whole_email() -> None:
    generator, lines = random.Random(13), LinkLines()
    for _ in range(400):
        for html in variants(random_html(generator)):
            cuts = random_cuts(generator, html)
            split = pieces(html, cuts)
            cached = instrument(
                html=html, text=None, message_id=5, settings=SETTINGS, lines=lines, split=split
            )
            assert cached == instrument(html=html, text=None, message_id=5, settings=SETTINGS), (html, cuts)


def test_a_full_cache_starts_afresh_and_still_finds_every_link() -> None:
    lines = LinkLines(max_characters=40)
    html = '<p>\n<a href="https://a.example/1">one</a>\n<a\nhref="https://b.example/2">two</a>\n</p>\n'
    for _ in range(3):
        result = instrument(html=html, text=None, message_id=9, settings=SETTINGS, lines=lines)
        assert result.urls == ["https://a.example/1", "https://b.example/2"]


def test_urls_in_text_are_found_exactly_where_the_url_pattern_finds_them() -> None:
    pattern = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
    parts = [
        "http",
        "HTTPS",
        "Http",
        "s",
        "://",
        ":/",
        "/",
        "x.test",
        " ",
        "\n",
        '"',
        "<",
        ">",
        "(",
        ")",
        ".",
        "h",
    ]
    generator = random.Random(5)
    for _ in range(20_000):
        text = "".join(generator.choice(parts) for _ in range(generator.randint(0, 12)))
        assert list(_text_urls(text)) == [match.span() for match in pattern.finditer(text)], text
