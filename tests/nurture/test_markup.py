"""Reading HTML tag by tag: what counts as a tag, as text, and what is skipped."""

import pytest

from nurture.markup import CutShort, EndTag, StartTag, start_tags, tokens


def test_tags_text_and_references() -> None:
    html = '<P class="x">Fish &amp; chips</p><br/>'
    assert list(tokens(html)) == [
        StartTag("p", 0, '<P class="x">'),
        "Fish & chips",
        EndTag("p"),
        StartTag("br", 33, "<br/>"),
    ]
    assert list(tokens(html))[-1].self_closing  # type: ignore[union-attr]


def test_comments_declarations_scripts_and_styles_hold_no_tags() -> None:
    html = (
        "<!DOCTYPE html><!-- <a href='https://hidden.test'> -->"
        "<script>let s = '<a href=\"https://script.test\">';</script>"
        "<style>a::before { content: '<a>' }</style>"
        '<a href="https://real.test">real</a>'
    )
    assert [tag.raw for tag in start_tags(html, "a")] == ['<a href="https://real.test">']
    assert "let s = '<a href=\"https://script.test\">';" in list(tokens(html))


def test_a_quoted_value_may_hold_a_greater_than_sign() -> None:
    [anchor] = start_tags('<a title="1 > 0" href="https://x.test">x</a>', "a")
    assert anchor.attributes() == [("title", "1 > 0"), ("href", "https://x.test")]


def test_a_less_than_sign_that_opens_no_tag_is_text() -> None:
    assert "".join(t for t in tokens("1 < 2 <3 and <a href") if isinstance(t, str)) == "1 < 2 <3 and <a href"
    assert list(start_tags("<abbr>x</abbr><a", "a")) == []


def test_broken_html_takes_linear_time() -> None:
    # Unclosed quotes and tags everywhere: each position is scanned once, not once per tag.
    broken = '<a x="' * 50_000 + "<p '" * 50_000
    assert sum(1 for _ in tokens(broken)) < 10
    assert list(start_tags(broken, "p")) == []


def test_a_piece_cut_inside_a_construct_is_cut_short() -> None:
    # Each of these would read differently with the line that follows the cut.
    for piece in ('<p>x</p><a href="x\n', "<!-- x\n", "<script>x\n", '<a title="1>0\n', "<!x\n", "</p\n"):
        with pytest.raises(CutShort):
            list(tokens(piece, more_follows=True))
    # These are the same whatever follows.
    assert list(tokens('<a title="1 > 0">x &amp;\n', more_follows=True)) == [
        StartTag("a", 0, '<a title="1 > 0">'),
        "x &\n",
    ]
    assert list(tokens("<!-- x -->1 < 2\n", more_follows=True)) == ["1 < 2\n"]


def test_markup_like_text_in_a_style_does_not_swallow_the_tags_after_it() -> None:
    html = '<style><a title="</style><a href="https://real.test">x</a>'
    assert [tag.raw for tag in start_tags(html, "a")] == ['<a href="https://real.test">']
