"""What is wrong with a definition: a path inside it and a sentence a marketer understands."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

Loc = tuple[str | int, ...]


def render_path(loc: Loc) -> str:
    """`("steps", 3, "next")` -> `steps[3].next`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition.

    Attributes:
        loc: where, inside the definition: `("steps", 3, "next")`.
        message: what, naming the step: `steps[3] (reminder): next: unknown step 'remindr'`.
    """

    loc: Loc
    message: str

    @property
    def path(self) -> str:
        """The JSON path inside the definition: `steps[3].next`."""
        return render_path(self.loc)

    def __str__(self) -> str:
        return self.message


class DefinitionRefused(Exception):
    """A definition that cannot be saved; `problems` lists every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = list(problems)


def step_label(index: int, step_id: object) -> str:
    """`steps[3] (reminder)`, or `steps[3]` when the step has no usable id."""
    return f"steps[{index}] ({step_id})" if isinstance(step_id, str) and step_id else f"steps[{index}]"


def problem(loc: Loc, text: str, *, step_id: object = None) -> Problem:
    """A problem at `loc`, its message led by the step (when under `steps`) and the rest of the path.

    Args:
        loc: the path inside the definition.
        text: what is wrong, in plain words.
        step_id: the id of the step the path is under, if known.
    """
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        head, rest = step_label(loc[1], step_id), loc[2:]
    elif len(loc) >= 2 and isinstance(loc[1], int):
        head, rest = render_path(loc[:2]), loc[2:]
    elif loc:
        head, rest = str(loc[0]), loc[1:]
    else:
        head, rest = "definition", ()
    where = f"{head}: {render_path(rest)}" if rest else head
    return Problem(loc, f"{where}: {text}")


def _clean_loc(raw: Any, loc: Sequence[str | int]) -> Loc:
    # pydantic puts the discriminator's value in the path of a tagged union (`steps.3.send_email.
    # template_id`); the marketer wrote no such key, so follow the input and drop those segments.
    cleaned: list[str | int] = []
    node = raw
    for part in loc:
        if isinstance(node, Mapping) and isinstance(part, str) and node.get("type") == part:
            # `type: field` with an error on its `field` key keeps the second `field`.
            node = {**node, "type": object()}
            continue
        cleaned.append(part)
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(cleaned)


# What the definition's patterns mean, in words (pydantic would quote the regular expression).
_PATTERNS = {
    r"^([01]\d|2[0-3]):[0-5]\d$": "must be a time of day as HH:MM, 24-hour, such as 09:30",
    r"^[a-z0-9][a-z0-9_-]{0,63}$": (
        "a step id holds only a-z, 0-9, _ and - (at most 64, not starting with _ or -)"
    ),
    r"^[A-Za-z_][A-Za-z0-9_]{0,63}$": "must start with a letter or _ and hold only letters, digits and _",
}


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    ctx = error.get("ctx") or {}
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERNS:
        return f"'{error.get('input')}': {_PATTERNS[ctx['pattern']]}"
    if kind == "union_tag_invalid":
        return f"unknown type '{ctx.get('tag')}'; expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return "type is missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    # pydantic prefixes validator messages with "Value error, "; the path says enough.
    return str(error.get("msg", "invalid value")).removeprefix("Value error, ")


def from_validation_error(raw: Any, exc: ValidationError) -> list[Problem]:
    """The problems pydantic found in `raw`, with clean paths and messages naming the step."""
    found = []
    for error in exc.errors():
        loc = _clean_loc(raw, error.get("loc", ()))
        step_id = None
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            steps = raw.get("steps") if isinstance(raw, Mapping) else None
            if isinstance(steps, list) and loc[1] < len(steps) and isinstance(steps[loc[1]], Mapping):
                step_id = steps[loc[1]].get("id")
        found.append(problem(loc, _message(error), step_id=step_id))
    return found
