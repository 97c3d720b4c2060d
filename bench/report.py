"""BENCHMARKS.md from a run of every benchmark: the machine, then each figure beside its target."""

from collections import Counter
from datetime import datetime

from bench.machine import Machine
from bench.results import BenchmarkRun, Result

QUICK_WARNING = (
    "> **Quick run.** These figures come from smaller sizes than the targets are set for "
    "(`python -m bench --quick`, or sizes given by hand). They show that the benchmarks run; "
    "they are not the figures of record: run `make bench` on a quiet machine for those."
)


def render(
    runs: list[BenchmarkRun], *, machine: Machine, started: datetime, seconds: float, quick: bool
) -> str:
    """The whole of BENCHMARKS.md for these runs (a pure function of its arguments)."""
    lines = [f"# Benchmarks{' (quick run)' if quick else ''}", ""]
    if quick:
        lines += [QUICK_WARNING, ""]
    lines += [
        f"Written by `make bench` (`python -m bench`), started {started:%Y-%m-%d %H:%M} UTC; "
        f"the run took {duration(seconds)}. {tally(runs)}",
        "",
        "Each benchmark starts its own Temporal dev server and processes, one after another on this "
        "machine; a ratio's two sides are measured in the same run and shown just above it. "
        "docs/benchmarks.md says how each figure is measured.",
        "",
        "| machine | |",
        "|---|---|",
        f"| CPU | {machine.cpu} |",
        f"| cores | {machine.cores} |",
        f"| RAM | {machine.ram} |",
        f"| Python | {machine.python} |",
        f"| OS | {machine.os} |",
        f"| temporalio | {machine.temporalio} |",
        f"| commit | {machine.commit} |",
        "",
        "## Figures",
        "",
        "| benchmark | figure | measured | target | |",
        "|---|---|---|---|---|",
    ]
    for run in runs:
        first = True
        for result in run.results:
            lines.append(_row(run.name if first else "", result))
            first = False
        if run.error is not None:
            lines.append(
                _cells(run.name if first else "", "the run failed", _cell(run.error), "", "**failed**")
            )
    lines += ["", "## Runs", ""]
    for run in runs:
        took = "" if run.seconds is None else f" Took {duration(run.seconds)}."
        lines += [f"### {run.name}", "", f"{run.sizes}.{took}", ""]
        if run.error is not None:
            lines += [f"**Failed:** {_cell(run.error)}", ""]
        lines += [f"- {note}" for note in run.notes]
        if run.notes:
            lines.append("")
    return "\n".join(lines)


def figure_text(result: Result) -> str:
    """A figure as the table shows it: a ratio to two places, a growth signed, a rate whole."""
    value = result.figure
    if value is None:
        return "not measured"
    if result.unit == "%":
        # Adding 0.0 turns a rounded -0.0 into 0.0: a growth of -0.04% is no growth, not "-0.0%".
        return f"{round(value, 1) + 0.0:+.1f}%"
    if result.ratio_of and not result.unit:
        return f"{value:.2f}"
    # Latencies to a tenth of a ms, as the benchmarks print them; the rest whole from 100 up.
    number = f"{value:,.0f}" if abs(value) >= 100 and result.unit != "ms" else f"{value:,.1f}"
    return f"{number} {result.unit}".strip()


def verdict(result: Result) -> str:
    """met, MISSED, not measured; nothing for a figure without a target."""
    if not result.target:
        return ""
    if result.met is None:
        return "not measured"
    return "met" if result.met else "**MISSED**"


def tally(runs: list[BenchmarkRun]) -> str:
    """How many targets were met, missed and not measured, and how many benchmarks failed."""
    counts = Counter(verdict(r).strip("*") for run in runs for r in run.results if r.target)
    parts = [f"{counts[word]} {word}" for word in ("met", "MISSED", "not measured") if counts[word]]
    failed = sum(run.error is not None for run in runs)
    text = f"Targets: {', '.join(parts) or 'none measured'}."
    if failed:
        text += f" **{failed} of {len(runs)} benchmarks failed.**"
    return text


def duration(seconds: float) -> str:
    """`42 s`, `12 min 5 s`, `1 h 3 min`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _row(benchmark: str, result: Result) -> str:
    name = f"{result.name} ({result.ratio_of})" if result.ratio_of else result.name
    shown = figure_text(result)
    if result.target and result.figure is not None:
        shown = f"**{shown}**"
    return _cells(benchmark, _cell(name), shown, result.target, verdict(result))


def _cells(*cells: str) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def _cell(text: str) -> str:
    # A table cell holds one line, and a bar would end it.
    return " ".join(text.split()).replace("|", "\\|")
