"""Where the waiting-runs benchmark measures the worker's growth from: past half the runs and the cache."""

from bench.waiting_runs import Sample, reference


def samples(*waiting: int) -> list[Sample]:
    return [Sample(count, 100_000 + count, 200_000 + count) for count in waiting]


def test_growth_is_measured_from_half_the_runs_once_they_pass_the_cache() -> None:
    taken = samples(0, 1_004, 2_010, 5_003, 6_001, 10_000, 10_000)
    assert reference(taken, runs=10_000, cached=1_000) == taken[3]


def test_with_few_runs_growth_is_measured_from_the_cache_size() -> None:
    taken = samples(0, 504, 1_011, 1_600, 1_600)
    assert reference(taken, runs=1_600, cached=1_000) == taken[2]


def test_runs_that_fit_in_the_cache_give_no_reference() -> None:
    assert reference(samples(0, 1_000, 1_000), runs=1_000, cached=1_000) is None
