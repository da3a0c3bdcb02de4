"""Summaries of timing samples: median, spread, a bootstrap interval and the stopping rule.

The interval is a percentile bootstrap of the median (seeded, so the same samples always give
the same interval): it makes no normality assumption, which matters for latencies with a long
right tail. Sampling stops when every watched metric's interval is within the target (±2 %
by default), when the time budget is spent, or at the round cap, and the reason is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from quantbench.catalog import spec
from quantbench.results import Metric

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    n: int
    cv: float

    @property
    def rel_halfwidth(self) -> float:
        return (self.high - self.low) / 2 / abs(self.median) if self.median else 0.0


def median_interval(samples: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """The 95 % percentile-bootstrap interval of the median of ``samples``."""
    data = np.asarray(samples, dtype=float)
    if data.size < 2:
        value = float(data[0]) if data.size else float("nan")
        return value, value
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, data.size, size=(BOOTSTRAP_RESAMPLES, data.size))
    medians = np.median(data[picks], axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(low), float(high)


def summarize(samples: Sequence[float], seed: int = 0) -> Summary:
    """Median, bootstrap interval, sample count and coefficient of variation."""
    data = np.asarray(samples, dtype=float)
    if data.size == 0:
        raise ValueError("no samples to summarize")
    mean = float(data.mean())
    cv = float(data.std(ddof=1) / mean) if data.size > 1 and mean else 0.0
    low, high = median_interval(data, seed)
    return Summary(float(np.median(data)), low, high, int(data.size), cv)


def to_metric(name: str, summary: Summary, stop: str) -> Metric:
    """A catalogued metric from a summary (unit and direction from the catalog)."""
    s = spec(name)
    return Metric(name, s.unit, summary.median, summary.low, summary.high, summary.n,
                  s.higher_is_better, summary.cv, stop)


@dataclass(frozen=True)
class StopRule:
    """When to stop taking rounds: converged, out of budget, or at the round cap."""

    min_rounds: int
    max_rounds: int
    budget_s: float
    target_rel: float
    adaptive: bool = True

    def decide(self, rounds: int, elapsed_s: float, watched: Sequence[Sequence[float]]) -> str | None:
        """The reason to stop now (``converged``, ``budget``, ``max_rounds``, ``fixed``) or ``None``."""
        if not self.adaptive:
            return "fixed" if rounds >= self.max_rounds else None
        if rounds < self.min_rounds:
            return None
        # One sample has no interval to converge: its noise is unknown, not zero.
        if rounds >= 2 and all(summarize(s).rel_halfwidth <= self.target_rel for s in watched):
            return "converged"
        if rounds >= self.max_rounds:
            return "max_rounds"
        if elapsed_s >= self.budget_s:
            return "budget"
        return None
