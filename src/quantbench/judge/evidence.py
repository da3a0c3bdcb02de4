"""How strong the evidence of a change is: one p-value per metric, and Holm's correction over
all the metrics a session tests at once.

Wall-clock figures (catalog family ``wall``) are judged against the spread of whole sessions,
never against one session's own interval: between processes on one lent H200, FP16 eager decode
ranged 41-70 tok/s while one session's interval was ±2 % (issue 19). With the session medians of
a baseline's window (``judge.window``), the test is Student's prediction test on log medians,

    t = (log now − mean of log medians) / (s · √(1 + 1/k)),   k − 1 degrees of freedom,

exact for a new session drawn like the k stored ones when log medians are normal (wall clock
spreads by ratios, hence the logs). A /1 baseline from ``calibrate`` has no window, only its
prediction interval, read as a standard error (half-width / 1.96) in a z-test as before.

Holm's step-down correction then keeps the chance that an unchanged build fails any row of the
session at most ``ALPHA`` whatever the dependence between rows (Holm 1979): a session tests
~100 rows, and 100 tests at 5 % each would almost surely cry wolf. The CPU simulation in
tests/test_false_alarms.py checks the rate.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Iterable, Sequence

from scipy import stats

from quantbench.results import Metric

ALPHA = 0.05  # family-wise: the chance an unchanged build fails any tested row of a session
Z_CRITICAL = 1.96
# With fewer than ``window.MIN_WALL_SESSIONS`` sessions a wall-clock row fails only when this
# many times worse. The prior: between processes of the same build on one lent H200, FP16 eager
# decode ranged 41-70 tok/s (a spread of about 20 % in log terms) and moved 1.6x between two
# sessions (32.3 -> 51.8 tok/s, issue 19). At 2x, simulated unchanged sessions with that spread
# failed 10 % of the time against one session (tests/test_false_alarms.py); at 3x, none did.
WALL_PRIOR_FACTOR = 3.0


def factor(base: float, now: float, higher_is_better: bool) -> float:
    """How many times worse ``now`` is than ``base`` (>1 worse, <1 better; inf from or to 0)."""
    if base <= 0 or now <= 0:
        return 1.0 if base == now else math.inf
    return base / now if higher_is_better else now / base


def std_error(metric: Metric) -> float | None:
    """A median's standard error from its 95 % interval; ``None`` when the noise is unknown
    (a zero-width interval on a metric that is not an exact count)."""
    width = metric.high - metric.low
    if width <= 0:
        return 0.0 if metric.stop == "exact" else None
    return width / 2 / Z_CRITICAL


def z_score(baseline: Metric, current: Metric) -> float | None:
    """``(current − baseline) / sqrt(se_b² + se_c²)``; ``None`` when noise cannot be judged."""
    se_b, se_c = std_error(baseline), std_error(current)
    if se_b is None or se_c is None or se_b == se_c == 0:
        return None
    return (current.median - baseline.median) / math.hypot(se_b, se_c)


def pooled_spread(windows: Iterable[Sequence[float]]) -> tuple[float, int] | None:
    """The between-session spread of log medians pooled over several rows of one metric: (s,
    degrees of freedom), each row's deviations taken from its own mean; ``None`` when no row
    holds two sessions. Device time moves alike in every row (kernel time repeated within
    0.01-1 % between leases), so a window of two sessions gives as many degrees of freedom as it
    has rows, where a row alone would give one (t = 12.7) and hide a 10 % move."""
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


def ab_command(case_key: str, method: str) -> str:
    """The same-host A/B that would confirm a wall-clock move of one case and method."""
    return ab_command_for([(case_key, method)])


def ab_command_for(cases: list[tuple[str, str]]) -> str:
    """One same-host A/B over several (case key, method) pairs: their methods, modes and cases."""
    methods = ",".join(sorted({m for _, m in cases}))
    modes = ",".join(sorted({k.partition("/")[0] for k, _ in cases}))
    selects = []
    for key, _ in cases:
        kind, _, size = key.partition("/")[2].partition("-")
        select = f"generate and {size}" if kind == "generate" else f"{kind} and len{size}"
        if select not in selects:
            selects.append(select)
    where = selects[0] if len(selects) == 1 else " or ".join(f"({s})" for s in selects)
    return (f"python -m quantbench ab --base OLD/bin/python --head NEW/bin/python -- "
            f"--qb-methods {methods} --qb-modes {modes} -k '{where}'")


@dataclass(frozen=True)
class Evidence:
    """What a verdict rests on: the p-value after Holm's correction (``None``: noise unknown,
    tolerance alone), the z of an interval test, and how many sessions the baseline holds."""

    p: float | None = None
    z: float | None = None
    sessions: int = 1
    wall: bool = False
