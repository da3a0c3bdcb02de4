"""Tests of a change: the z-test of two intervals, Student's prediction test of a new session
against a window's session medians, and Holm's correction over a family of tests.

The prediction test works on log medians (wall clock spreads by ratios, hence the logs):

    t = (log now − mean of log medians) / (s · √(1 + 1/k)),   k − 1 degrees of freedom,

exact for a new session drawn like the k stored ones when log medians are normal. Holm's
step-down correction keeps the chance that an unchanged build fails any test of the family at
most ``ALPHA`` whatever the dependence between the tests (Holm 1979).
"""

from __future__ import annotations

import math
import statistics
from typing import Iterable, Sequence

from quantbench.results import Metric
from quantbench.stats.intervals import std_error

ALPHA = 0.05  # family-wise: the chance an unchanged build fails any tested row of a session


def z_score(baseline: Metric, current: Metric) -> float | None:
    """``(current − baseline) / sqrt(se_b² + se_c²)``; ``None`` when noise cannot be judged."""
    se_b, se_c = std_error(baseline), std_error(current)
    if se_b is None or se_c is None or se_b == se_c == 0:
        return None
    return (current.median - baseline.median) / math.hypot(se_b, se_c)


def pooled_spread(windows: Iterable[Sequence[float]]) -> tuple[float, int] | None:
    """The between-session spread of log medians pooled over several rows of one metric: (s,
    degrees of freedom), each row's deviations taken from its own mean; ``None`` when no row
    holds two sessions. Device time moves alike in every row of a mode (a machine that runs one
    kernel slower runs them all slower), so a window of two sessions gives as many degrees of
    freedom as it has rows, where a row alone would give one (t = 12.7) and hide a 10 % move."""
    squares, df = 0.0, 0
    for medians in windows:
        logs = [math.log(m) for m in medians if m > 0]
        if len(logs) < 2:
            continue
        mean = statistics.fmean(logs)
        squares += sum((x - mean) ** 2 for x in logs)
        df += len(logs) - 1
    return (math.sqrt(squares / df), df) if df else None


def between_sessions(medians: Sequence[float], now: float,
                     pooled: tuple[float, int] | None = None) -> float | None:
    """Two-sided p of ``now`` under the prediction test from the window's session medians, with
    the row's own spread or a ``pooled`` one (``pooled_spread``); ``None`` with no spread to
    judge by (fewer than two medians and nothing pooled) or a value a log cannot take."""
    k = len(medians)
    if (k < 2 and pooled is None) or k < 1 or now <= 0 or min(medians) <= 0:
        return None
    logs = [math.log(m) for m in medians]
    s, df = pooled if pooled is not None else (statistics.stdev(logs), k - 1)
    diff = math.log(now) - statistics.fmean(logs)
    if s == 0:
        return 1.0 if abs(diff) < 1e-12 else 0.0
    from scipy import stats  # scipy: loaded only once something is judged

    t = diff / (s * math.sqrt(1 + 1 / k))
    return float(2 * stats.t.sf(abs(t), df))


def p_value(base: Metric, now: Metric, medians: Sequence[float],
            pooled: tuple[float, int] | None = None) -> tuple[float | None, float | None]:
    """(p, z) of one metric's change: from the window's session medians when it holds two or
    more (or a ``pooled`` spread), else from both sides' intervals (z-test); ``(None, None)``
    when noise is unknown."""
    p = between_sessions(medians, now.median, pooled)
    if p is not None:
        return p, None
    z = z_score(base, now)
    if z is None:
        return None, None
    from scipy import stats  # scipy: loaded only once something is judged

    return float(2 * stats.norm.sf(abs(z))), z


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the given order: reject where adjusted p <= ALPHA."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted
