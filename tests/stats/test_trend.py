"""Change points and drift over a series of sessions (``history.trend``), on planted series."""

from __future__ import annotations

import numpy as np
import pytest

from quantbench.stats import MIN_POINTS, analyse
from quantbench.stats import robust_noise

pytest.importorskip("ruptures")

TOL = 0.10


def noisy(n: int, noise: float, seed: int) -> np.ndarray:
    return 100 * (1 + noise * np.random.default_rng(seed).standard_normal(n))


@pytest.mark.parametrize("seed", range(5))
def test_a_planted_step_is_one_change_point_and_no_drift(seed: int) -> None:
    values = noisy(20, 0.01, seed)
    values[12:] *= 0.85  # throughput falls 15 % at session 12
    trend = analyse(values.tolist(), 100.0, TOL, higher_is_better=True)
    assert [cp.index for cp in trend.change_points] == [12]
    assert trend.change_points[0].step == pytest.approx(-0.15, abs=0.02)
    assert trend.drift is None  # a per-change gate sees this one


@pytest.mark.parametrize("seed", range(5))
def test_a_planted_slow_drift_is_a_drift_with_no_step_beyond_tolerance(seed: int) -> None:
    values = noisy(12, 0.01, seed) * (1 - 0.02 * np.arange(12))  # 2 % worse per session
    trend = analyse(values.tolist(), 100.0, TOL, higher_is_better=True)
    assert trend.drift == "worse"
    assert trend.window_change == pytest.approx(-0.22, abs=0.03)
    assert trend.window_low < trend.window_change < trend.window_high < 0
    assert all(abs(cp.step) <= TOL for cp in trend.change_points)


def test_a_drift_of_a_lower_is_better_metric_upwards_is_worse() -> None:
    values = noisy(12, 0.01, 7) * (1 + 0.02 * np.arange(12))  # latency grows 2 % per session
    trend = analyse(values.tolist(), 100.0, TOL, higher_is_better=False)
    assert trend.drift == "worse" and trend.window_change < -TOL
    assert analyse(values.tolist(), 100.0, TOL, higher_is_better=True).drift == "better"


@pytest.mark.parametrize("seed", range(10))
def test_a_flat_noisy_series_has_neither(seed: int) -> None:
    trend = analyse(noisy(20, 0.03, 100 + seed).tolist(), 100.0, TOL, higher_is_better=True)
    assert trend.change_points == ()
    assert trend.drift is None
    assert abs(trend.window_change) < TOL


def test_a_drift_within_tolerance_is_not_a_drift() -> None:
    values = noisy(8, 0.005, 3) * (1 - 0.01 * np.arange(8))  # 7 % over the window, tolerance 10 %
    assert analyse(values.tolist(), 100.0, TOL, higher_is_better=True).drift is None


def test_an_exact_count_that_changes_once_is_a_step() -> None:
    values = [120.0] * 6 + [126.0] * 6  # kernels per token: no noise at all
    trend = analyse(values, 120.0, 0.005, higher_is_better=False)
    assert [(cp.index, cp.step) for cp in trend.change_points] == [(6, pytest.approx(-0.05))]
    assert trend.drift is None


def test_an_ungated_metric_gets_change_points_but_never_a_drift() -> None:
    values = (noisy(12, 0.01, 4) * (1 - 0.03 * np.arange(12))).tolist()
    assert analyse(values, 100.0, None, higher_is_better=True).drift is None


def test_short_series_are_not_judged() -> None:
    trend = analyse([100.0, 50.0, 25.0, 12.0][: MIN_POINTS - 1], 100.0, TOL, True)
    assert trend.change_points == () and trend.drift is None and trend.window_change is None


def test_the_noise_estimate_ignores_a_step() -> None:
    rng = np.random.default_rng(0)
    flat = 1 + 0.01 * rng.standard_normal(40)
    stepped = flat.copy()
    stepped[20:] += 0.5
    assert robust_noise(stepped) == pytest.approx(robust_noise(flat), rel=0.2)
    estimates = [robust_noise(1 + 0.01 * np.random.default_rng(s).standard_normal(40)) for s in range(30)]
    assert np.mean(estimates) == pytest.approx(0.01, rel=0.15)  # unbiased for Gaussian noise
