"""BENCHMARKS.md as rendered from given results: the machine, each figure beside its target, quick runs."""

from datetime import UTC, datetime

from bench.machine import Machine
from bench.report import render
from bench.results import BenchmarkRun, at_least, shown, under

MACHINE = Machine(
    cpu="AMD EPYC 7B13",
    cores="2",
    ram="23.5 GiB",
    python="CPython 3.11.7",
    os="Debian GNU/Linux 12 (bookworm), kernel 6.1.0",
    temporalio="1.35.0",
    commit="9b53fe5",
)
STARTED = datetime(2026, 11, 24, 14, 3, tzinfo=UTC)


def automations() -> BenchmarkRun:
    return BenchmarkRun(
        "automations",
        "SQLite; 2,000 contacts",
        [
            shown("bare workflow", 62.3, "per s"),
            shown("automation enrollment", 56.5, "per s"),
            at_least(
                "enrollment, share of bare", 0.9069, 0.7, ratio_of="automation enrollment / bare workflow"
            ),
            under("signal to next step, p99", 512.4, 500, "ms"),
        ],
        notes=["The bare workflow runs in the bench's own process."],
        seconds=95,
    )


def campaigns() -> BenchmarkRun:
    return BenchmarkRun(
        "campaigns",
        "SQLite; 2,000 recipients",
        [
            at_least("end to end", 1178.4, 1000, "emails/s"),
            under("worker growth 25% to 100%", None, 10, "%"),
            under("worker growth in a second run", 0.24, 10, "%"),
            under("worker growth in a third run", -0.04, 10, "%"),
        ],
        seconds=725,
    )


def page(*runs: BenchmarkRun, quick: bool = False) -> str:
    return render(list(runs), machine=MACHINE, started=STARTED, seconds=4000, quick=quick)


def test_the_machine_and_the_date_head_the_page() -> None:
    text = page(automations())
    assert text.startswith("# Benchmarks\n")
    for row in (
        "| CPU | AMD EPYC 7B13 |",
        "| cores | 2 |",
        "| RAM | 23.5 GiB |",
        "| Python | CPython 3.11.7 |",
        "| OS | Debian GNU/Linux 12 (bookworm), kernel 6.1.0 |",
        "| commit | 9b53fe5 |",
    ):
        assert row in text.splitlines()
    assert "started 2026-11-24 14:03 UTC; the run took 1 h 6 min." in text
    assert "quick" not in text.lower()


def test_each_target_sits_beside_its_figure_and_a_ratio_beside_its_sides() -> None:
    rows = page(automations(), campaigns()).splitlines()
    first = rows.index("| automations | bare workflow | 62.3 per s | | |")
    assert rows[first + 1 : first + 4] == [
        "| | automation enrollment | 56.5 per s | | |",
        "| | enrollment, share of bare (automation enrollment / bare workflow) | **0.91** | at least 0.7 "
        "| met |",
        "| | signal to next step, p99 | **512.4 ms** | under 500 ms | **MISSED** |",
    ]
    assert "| campaigns | end to end | **1,178 emails/s** | at least 1,000 emails/s | met |" in rows
    assert "| | worker growth 25% to 100% | not measured | under 10% | not measured |" in rows
    assert "| | worker growth in a second run | **+0.2%** | under 10% | met |" in rows
    assert "| | worker growth in a third run | **+0.0%** | under 10% | met |" in rows
    assert "Targets: 4 met, 1 MISSED, 1 not measured." in "\n".join(rows)


def test_each_run_says_its_sizes_time_and_notes() -> None:
    text = page(automations(), campaigns())
    assert "### automations\n\nSQLite; 2,000 contacts. Took 1 min 35 s.\n\n- The bare workflow runs" in text
    assert "### campaigns\n\nSQLite; 2,000 recipients. Took 12 min 5 s." in text


def test_a_quick_run_says_so_before_any_figure() -> None:
    text = page(automations(), quick=True)
    assert text.startswith("# Benchmarks (quick run)\n\n> **Quick run.**")
    assert text.index("not the figures of record") < text.index("## Figures")


def test_a_failed_benchmark_is_written_as_failed_on_one_table_row() -> None:
    broken = BenchmarkRun(
        "transactional",
        "did not finish",
        error="RuntimeError: the API answered 500: a | b\nsecond line",
        seconds=12,
    )
    text = page(automations(), broken)
    assert (
        "| transactional | the run failed | RuntimeError: the API answered 500: a \\| b second line | "
        "| **failed** |"
    ) in text.splitlines()
    assert "**1 of 2 benchmarks failed.**" in text
