"""Summaries of samples: the bootstrap interval of the median, percentiles and catalogued metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantbench.catalog import SPECS
from quantbench.results import Metric
from quantbench.run.stopping import StopRule, to_metric
from quantbench.stats import Summary, median_interval, summarize


def _skewed(n: int, seed: int) -> list[float]:
    # a latency-like sample with a long right tail
    rng = np.random.default_rng(seed)
    return list(10.0 + rng.exponential(2.0, size=n))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n", [2, 3, 10, 57])
def test_interval_contains_the_median(n: int, seed: int) -> None:
    data = _skewed(n, seed)
    low, high = median_interval(data, seed=seed)
    median = float(np.median(data))
    assert low <= median <= high
    assert min(data) <= low and high <= max(data)
    s = summarize(data, seed=seed)
    assert s.low <= s.median <= s.high
    assert s.median == median


def test_interval_is_seeded_and_deterministic() -> None:
    data = _skewed(40, 1)
    assert median_interval(data) == median_interval(list(data))
    assert median_interval(data, seed=5) == median_interval(data, seed=5)
    assert summarize(data, seed=3) == summarize(data, seed=3)


def test_interval_does_not_depend_on_global_random_state() -> None:
    data = _skewed(30, 2)
    first = median_interval(data)
    np.random.seed(1234)
    np.random.random(100)
    assert median_interval(data) == first


def test_constant_samples_have_zero_width() -> None:
    s = summarize([7.5] * 12)
    assert s == Summary(7.5, 7.5, 7.5, 12, 0.0)
    assert s.rel_halfwidth == 0.0
    assert median_interval([3.0, 3.0]) == (3.0, 3.0)


def test_one_sample_and_no_samples() -> None:
    assert median_interval([4.0]) == (4.0, 4.0)
    low, high = median_interval([])
    assert math.isnan(low) and math.isnan(high)
    assert summarize([4.0]) == Summary(4.0, 4.0, 4.0, 1, 0.0)
    with pytest.raises(ValueError, match="no samples"):
        summarize([])


def test_cv_is_sample_std_over_mean() -> None:
    s = summarize([1.0, 2.0, 3.0])
    assert s.cv == pytest.approx(0.5, rel=1e-12)  # std (ddof=1) 1.0 over mean 2.0
    assert s.median == 2.0
    assert s.n == 3
    assert summarize([-1.0, 1.0]).cv == 0.0  # zero mean: no ratio


@pytest.mark.parametrize(
    "summary, expected",
    [
        (Summary(10.0, 9.0, 12.0, 5, 0.0), 0.15),
        (Summary(200.0, 196.0, 204.0, 5, 0.0), 0.02),
        (Summary(-10.0, -12.0, -9.0, 5, 0.0), 0.15),  # relative to |median|
        (Summary(0.0, -1.0, 1.0, 5, 0.0), 0.0),  # a zero median has no relative width
        (Summary(5.0, 5.0, 5.0, 1, 0.0), 0.0),
    ],
)
def test_rel_halfwidth(summary: Summary, expected: float) -> None:
    assert summary.rel_halfwidth == pytest.approx(expected, rel=1e-12, abs=0.0)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_to_metric_takes_unit_and_direction_from_the_catalog(name: str) -> None:
    summary = Summary(10.0, 9.0, 11.0, 7, 0.05)
    m = to_metric(name, summary, "budget")
    assert m == Metric(name, SPECS[name].unit, 10.0, 9.0, 11.0, 7, SPECS[name].higher_is_better, 0.05, "budget")


@pytest.mark.parametrize(
    "name, unit, higher",
    [
        ("decode_tps", "tok/s", True),
        ("e2e_tps", "tok/s", True),
        ("prefill_tps", "tok/s", True),
        ("ttft_ms", "ms", False),
        ("token_p99_ms", "ms", False),
        ("weights_gb", "GB", False),
    ],
)
def test_to_metric_known_units(name: str, unit: str, higher: bool) -> None:
    m = to_metric(name, Summary(1.0, 1.0, 1.0, 3, 0.0), "converged")
    assert (m.unit, m.higher_is_better, m.stop, m.n) == (unit, higher, "converged", 3)


def test_to_metric_unknown_name_has_no_unit() -> None:
    m = to_metric("made_up", Summary(1.0, 0.5, 1.5, 2, 0.1), "fixed")
    assert (m.unit, m.higher_is_better) == ("", True)
    assert m.rel_halfwidth == 0.5


def test_one_round_is_never_converged_only_out_of_budget() -> None:
    """One sample's interval has zero width because its noise is unknown, not because it is
    steady: sampling goes on until the budget ends it (issue 19's one-round default)."""
    rule = StopRule(min_rounds=1, max_rounds=50, budget_s=1.0, target_rel=0.02)
    assert rule.decide(1, 0.2, [[5.0]]) is None
    assert rule.decide(1, 1.5, [[5.0]]) == "budget"
    assert rule.decide(2, 0.2, [[5.0, 5.0]]) == "converged"
