"""Intervals: a median's bootstrap interval, Student's t quantiles, the prediction interval for
one more session, a median's standard error read back from its 95 % interval, and one metric
merged over sessions (the median of their medians inside that prediction interval).

The bootstrap interval is a percentile bootstrap of the median (seeded, so the same samples
always give the same interval): it makes no normality assumption, which matters for latencies
with a long right tail. The prediction interval for one more session's median from k session
medians is median ± t(k-1) × s × sqrt(1 + 1/k), with s their standard deviation and t(k-1)
Student's 97.5 % quantile (12.7 for two sessions, 4.3 for three, 2.8 for five): with s
estimated from a handful of sessions, 1.96 × s would understate the noise.
"""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from quantbench.results import Metric

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
Z_CRITICAL = 1.96


@dataclass(frozen=True)
class Summary:
    """Median, its bootstrap interval, the sample count and the coefficient of variation."""

    median: float
    low: float
    high: float
    n: int
    cv: float

    @property
    def rel_halfwidth(self) -> float:
        """Half the interval's width relative to |median| (0 for a zero median)."""
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


@functools.lru_cache(maxsize=None)
def t_quantile(p: float, df: int) -> float:
    """Student's t ``p`` quantile for ``df`` degrees of freedom (df >= 1), from scipy."""
    from scipy.stats import t  # scipy: loaded only once something is judged

    return float(t.ppf(p, df))


def t975(df: int) -> float:
    """Student's t 97.5 % quantile for ``df`` degrees of freedom (df >= 1)."""
    return t_quantile(0.975, df)


def prediction_halfwidth(medians: Sequence[float]) -> float:
    """Half-width of the 95 % prediction interval for one more session's median."""
    k = len(medians)
    if k < 2:
        return 0.0
    return t975(k - 1) * statistics.stdev(medians) * math.sqrt(1 + 1 / k)


def std_error(metric: Metric) -> float | None:
    """A median's standard error from its 95 % interval; ``None`` when the noise is unknown
    (a zero-width interval on a metric that is not an exact count)."""
    width = metric.high - metric.low
    if width <= 0:
        return 0.0 if metric.stop == "exact" else None
    return width / 2 / Z_CRITICAL


def merge_metric(samples: Sequence[Metric]) -> Metric:
    """One metric over sessions: median of medians; interval over all intervals and medians."""
    first = samples[0]
    medians = [m.median for m in samples]
    center = statistics.median(medians)
    spread = prediction_halfwidth(medians)
    low = min(min(m.low for m in samples), min(medians), center - spread)
    high = max(max(m.high for m in samples), max(medians), center + spread)
    cvs = [m.cv for m in samples if m.cv is not None]
    stop = first.stop if all(m.stop == "exact" for m in samples) and low == high else "sessions"
    return Metric(first.name, first.unit, center, low, high,
                  sum(m.n for m in samples), first.higher_is_better,
                  max(cvs) if cvs else None, stop, first.approximate)
