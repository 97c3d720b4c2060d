"""Cutting an email's HTML into pieces at line starts."""

import pytest

from nurture.pieces import cuts_around, pieces

HTML = "<html>\n<body>\n<p>Hi Ada,</p>\n<p>News.</p>\n</body>\n</html>\n"


def test_a_value_and_the_lines_it_sits_on_are_one_piece_between_runs_of_the_template() -> None:
    start = HTML.index("Ada")
    cuts = cuts_around(HTML, [start, start + len("Ada")])
    assert pieces(HTML, cuts) == ["<html>\n<body>", "<p>Hi Ada,</p>", "<p>News.</p>\n</body>\n</html>", ""]


def test_pieces_join_back_into_the_html() -> None:
    for boundaries in ([], [0], [len(HTML)], [3, 9, 40], range(len(HTML) + 1)):
        cut = pieces(HTML, cuts_around(HTML, boundaries))
        assert "\n".join(cut) == HTML
    assert pieces("no newline", cuts_around("no newline", [2])) == ["no newline"]
    assert pieces("", cuts_around("", [])) == [""]


def test_without_cuts_each_line_is_a_piece() -> None:
    assert pieces(HTML, None) == HTML.split("\n")


def test_a_cut_inside_a_line_is_refused() -> None:
    with pytest.raises(ValueError, match="not at the start of a line"):
        pieces(HTML, [0, 3])
    with pytest.raises(ValueError, match="starts at 7"):
        pieces(HTML, [7])
