"""The campaign batch benchmark: it sends real batches to the local server and counts all but the first."""

from pathlib import Path

from bench.campaign_batch import BatchCosts, measure


def test_every_batch_but_the_first_is_timed_and_every_email_reaches_the_server(tmp_path: Path) -> None:
    # `measure` raises unless each batch sent all 500 and the server holds every email.
    costs = measure(batches=3, database_url=None, data=tmp_path)

    assert len(costs.per_email_us) == 2
    assert all(us > 0 for us in costs.per_email_us)


def test_the_figure_is_the_median_batch() -> None:
    assert BatchCosts([900.0, 1_500.0, 1_000.0]).median == 1_000.0
