"""An email's HTML cut at line starts around what differs between emails, for the text and link caches.

A newsletter's HTML is mostly the template's own text, the same in every email, with a few
values in between (a name, a city, a link's token). Looked up line by line, the 150 lines of a
5 KB newsletter cost 150 lookups an email; cut where the template's values start and end, the
same email is a dozen pieces: the template's runs of whole lines, found at once, and the lines
that hold a value.
"""

from collections.abc import Iterable, Sequence


def cuts_around(html: str, boundaries: Iterable[int]) -> list[int]:
    """Where pieces start: at 0, and at the starts of the lines before and after each boundary.

    Each boundary (where one rendered chunk ended and the next began) falls inside one piece,
    the whole lines around it, so a value and the lines it sits on are looked up together; the
    lines between two such pieces are one piece. The last line is a piece of its own when the
    HTML ends with a newline, as `str.split` gives it.
    """
    cuts = {0}
    for boundary in boundaries:
        cuts.add(html.rfind("\n", 0, boundary) + 1)
        after = html.find("\n", boundary)
        if after >= 0:
            cuts.add(after + 1)
    if html.endswith("\n"):
        cuts.add(len(html))
    return sorted(cuts)


def pieces(html: str, cuts: Sequence[int] | None) -> list[str]:
    """The HTML's pieces, each without the newline that ends it: `"\\n".join` gives the HTML back.

    Without cuts, every line is a piece (`html.split("\\n")`).

    Raises:
        ValueError: a cut is not at the start of a line.
    """
    if not cuts:
        return html.split("\n")
    if cuts[0] != 0:
        raise ValueError(f"the first piece starts at {cuts[0]}, not 0")
    ends = [*cuts[1:], len(html) + 1]
    found = []
    for start, end in zip(cuts, ends, strict=True):
        if end <= start or html[end - 1 : end] not in ("\n", ""):
            raise ValueError(f"a cut at {end} is not at the start of a line")
        found.append(html[start : end - 1])
    return found
