"""What a benchmark measured, as data: each figure with its target and whether it was met."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Result:
    """One figure of a run. Without a target it is shown for context (a ratio's two sides, say).

    `figure` is None when the run could not measure it (a send too quick to sample); `met` is
    None when there is no target or nothing was measured. `ratio_of` names a ratio's two sides,
    both measured in the same run: "automation enrollment / bare workflow".
    """

    name: str
    figure: float | None
    unit: str = ""
    target: str = ""
    met: bool | None = None
    ratio_of: str = ""


def shown(name: str, figure: float | None, unit: str = "") -> Result:
    """A figure without a target."""
    return Result(name, figure, unit)


def at_least(
    name: str, figure: float | None, minimum: float, unit: str = "", *, ratio_of: str = ""
) -> Result:
    """A figure whose target is a floor (a rate, a ratio)."""
    met = None if figure is None else figure >= minimum
    return Result(name, figure, unit, f"at least {_number(minimum)}{_spaced(unit)}", met, ratio_of)


def under(name: str, figure: float | None, maximum: float, unit: str = "", *, ratio_of: str = "") -> Result:
    """A figure whose target is a ceiling (a latency, a growth)."""
    met = None if figure is None else figure < maximum
    return Result(name, figure, unit, f"under {_number(maximum)}{_spaced(unit)}", met, ratio_of)


@dataclass
class BenchmarkRun:
    """One benchmark's run: the sizes it ran at, its results, and notes that explain them."""

    name: str
    sizes: str
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float | None = None  # wall time, set by whoever ran it
    error: str | None = None  # the run failed with this; its results are whatever came before


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) and abs(value) >= 1 else f"{value:g}"


def _spaced(unit: str) -> str:
    return unit if unit in ("", "%") else f" {unit}"
