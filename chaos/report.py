"""The suite's results for people: a table in the terminal, and CHAOS.md."""

import os
import platform
from datetime import UTC, datetime

from chaos.results import FaultResult

DETAIL_WIDTH = 90


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def table(results: list[FaultResult]) -> str:
    """Fault -> checks -> pass/fail, one line per check, as the terminal shows it."""
    rows: list[tuple[str, str, str]] = []
    for r in results:
        title = f"{r.number}. {r.title}"
        if r.skipped is not None:
            rows.append((title, f"skipped: {r.skipped}", "skipped"))
            continue
        for c in r.checks:
            rows.append((title, c.name, "pass" if c.passed else "FAIL"))
            title = ""
        if r.error is not None:
            rows.append((title, _cut(f"broke off: {r.error}", DETAIL_WIDTH), "FAIL"))
        elif not r.checks:
            rows.append((title, "no checks made", "FAIL"))
    widths = [max(len(row[i]) for row in [("fault", "check", "result"), *rows]) for i in range(3)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(("fault", "check", "result"), widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    verdicts = ", ".join(
        f"{r.number} {r.verdict}" + (f" ({r.seconds:.0f} s)" if r.seconds else "") for r in results
    )
    lines.append(f"faults: {verdicts}")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(results: list[FaultResult], *, short: bool, database: str, seconds: float) -> str:
    """CHAOS.md: how the run was made, each fault's setup, checks (with what was seen) and timeline."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Chaos: Nurture's fault suite",
        "",
        f"`python -m chaos{' --short' if short else ''}` (`make chaos`) on {when}: {database}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; {seconds:.0f} s in all. "
        "After each fault: no email lost, none doubled (checked against the local Postmark-compatible "
        "server's `/__local/messages` and the send ledger), every run finished.",
        "",
        "| fault | result | time |",
        "|---|---|---|",
    ]
    for r in results:
        took = f"{r.seconds:.0f} s" if r.seconds is not None else ""
        lines.append(f"| {r.number}. {_cell(r.title)} | {r.verdict} | {took} |")
    for r in results:
        lines += ["", f"## {r.number}. {r.title}: {r.verdict}", ""]
        if r.setup:
            lines += [r.setup[0].upper() + r.setup[1:] + ".", ""]
        if r.skipped is not None:
            lines += [f"Skipped: {r.skipped}.", ""]
            continue
        if r.checks:
            lines += ["| check | result | seen |", "|---|---|---|"]
            lines += [
                f"| {_cell(c.name)} | {'pass' if c.passed else 'FAIL'} | {_cell(c.detail)} |"
                for c in r.checks
            ]
            lines.append("")
        if r.error is not None:
            lines += [f"Broke off: `{_cell(r.error)}`", ""]
        for note in r.notes:
            lines += [note, ""]
        if r.timeline:
            lines += ["Timeline:", "", "```", *r.timeline, "```"]
    return "\n".join(lines) + "\n"
