"""One metric over many sessions: where it stepped, and whether it crept.

A per-change gate compares each run with the stored baseline, so a slope of 2 % per upgrade
passes every gate while the metric loses 20 % over ten upgrades. This module looks at the whole
series instead and answers two questions.

**Change points** (where did it step?) are found with ruptures' PELT search (Killick et al.,
2012: the exact optimum of a penalised segmentation in linear time) on the series divided by
its reference and by its noise. The cost is ``l1`` (distance to each segment's median), so a
single wild session, common on lent GPUs, does not open a segment of its own; segments hold at
least two points. The noise ``sigma`` is estimated robustly from the point-to-point differences
(their median absolute deviation / 0.6745 / sqrt 2), so a step does not inflate it; the penalty
per change point is ``2 ln n`` in units of that noise. On simulated series this finds a step of
three noise widths in 93 % of 20-point series and a change point in 2 % of flat ones (8-point
series: 75 % and 9 %). ruptures, not asv's step detection, because asv's lives inside asv's
benchmark runner with no supported API, whereas ruptures is a maintained library whose only
job this is.

**Drift** (did it creep?) is a robust straight line (Theil-Sen, ``scipy.stats.theilslopes``)
over the session order: its fitted change across the window beyond the tolerance, its slope's
95 % interval excluding zero, and no change point whose step alone is beyond the tolerance (that
one a per-change gate would have caught). When the line describes the series better than the
steps do (l1 cost plus the same penalty per parameter), the steps are read as a sampled slope
and dropped. All changes are relative to the reference, positive meaning better.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

from quantbench.catalog import gated, spec
from quantbench.config import Settings
from quantbench.judge.compare import judge_metric
from quantbench.judge.diagnose import change_text, value_text
from quantbench.results import Metric
from quantbench.history.series import Group
from quantbench.stats import change_points, l1_cost, robust_noise, segments, theil_sen

MIN_POINTS = 5  # fewer points than this: no change points and no drift are looked for
MIN_SEGMENT = 2
PENALTY_PER_LN_N = 2.0


@dataclass(frozen=True)
class ChangePoint:
    """A step before point ``index``: ``step`` is the change of the segment medians relative to
    the reference, positive meaning better; ``before`` and ``after`` are those medians over the
    reference (for the raw-direction text: ``Line.moved``)."""

    index: int
    step: float
    before: float = 1.0
    after: float = 1.0


@dataclass(frozen=True)
class Trend:
    """What a series says: its change points, the line's change over the window (with its 95 %
    interval), the drift verdict (``"worse"``, ``"better"`` or ``None``), the point noise and
    the line itself (``fit``: value / reference at the first and at the last point)."""

    points: int
    change_points: tuple[ChangePoint, ...] = ()
    window_change: float | None = None
    window_low: float | None = None
    window_high: float | None = None
    drift: str | None = None
    noise: float | None = None
    fit: tuple[float, float] | None = None


def analyse(values: Sequence[float], reference: float, tolerance: float | None,
            higher_is_better: bool) -> Trend:
    """Change points and drift of ``values`` (in session order) around ``reference``.

    ``tolerance`` is the relative change that matters; ``None`` (an ungated metric) finds change
    points but never calls a drift."""
    n = len(values)
    if n < MIN_POINTS or reference == 0:
        return Trend(points=n)
    import numpy as np

    y = np.asarray(values, dtype=float) / reference
    sign = 1.0 if higher_is_better else -1.0
    sigma = robust_noise(y)
    z = y / sigma
    penalty = PENALTY_PER_LN_N * math.log(n)
    breaks = change_points(z, penalty, MIN_SEGMENT)
    step_cost = l1_cost(z, breaks)
    x = np.arange(n, dtype=float)
    line = theil_sen(y)
    line_cost = float(np.abs(z - (line.intercept + line.slope * x) / sigma).sum()) + penalty
    if breaks and line_cost < step_cost + penalty * len(breaks):
        breaks = []  # a slope sampled by noise, not steps
    pieces = segments(n, breaks)
    medians = [float(np.median(y[a:b])) for a, b in pieces]
    points = tuple(ChangePoint(start, sign * (after - before), before, after)
                   for (start, _), before, after in zip(pieces[1:], medians, medians[1:]))
    span = n - 1
    low, high = sorted((sign * line.low_slope * span, sign * line.high_slope * span))
    change = sign * line.slope * span
    drift = None
    if tolerance is not None and abs(change) > tolerance and (low > 0 or high < 0) \
            and not any(abs(p.step) > tolerance for p in points):
        drift = "better" if change > 0 else "worse"
    fit = (float(line.intercept), float(line.intercept + line.slope * span))
    return Trend(n, points, change, low, high, drift, sigma, fit)


@dataclass(frozen=True)
class Line:
    """One (case, method, metric) of a group over its samples: the sample index and metric of
    each point, the reference (the current baseline's median, else the series' median), the
    tolerance (``None``: never gated), the trend and each point's verdict against the baseline."""

    group: Group
    case_key: str
    method: str
    metric: str
    points: tuple[tuple[int, Metric], ...]
    reference: float
    baseline: Metric | None
    tolerance: float | None
    trend: Trend
    verdicts: tuple[str | None, ...]

    @property
    def name(self) -> str:
        return f"{self.case_key} {self.method} {self.metric}"

    def moved(self, before: float, after: float) -> str:
        """Two values relative to the reference in raw direction, as the gate's lines read:
        ``14.8 → 28.7 ms, 1.94× worse``."""
        first = self.points[0][1]
        kind = spec(self.metric).kind
        b, a = before * self.reference, after * self.reference
        return (f"{value_text(b, kind)} → {value_text(a, kind)} {first.unit}".rstrip()
                + f", {change_text(b, a, first.higher_is_better)}")

    def at(self, index: int) -> str:
        """The date and commit of sample ``index``, short: ``11-25 13:52 521ffd3``."""
        sample = self.group.samples[index]
        return f"{sample.date[5:16].replace('T', ' ')} {sample.commit or ''}".strip()


def judge_group(group: Group, metrics: Sequence[str], settings: Settings) -> list[Line]:
    """Every series of ``metrics`` the group's samples hold, judged."""
    lines = []
    for case_key, method, name in group.series_keys(metrics):
        points = tuple((i, s.results[(case_key, method)][name]) for i, s in enumerate(group.samples)
                       if name in s.results.get((case_key, method), {}))
        tolerance = settings.tolerance(name) if gated(name) else None
        base = (group.baseline.results.get(case_key, {}).get(method, {}).get(name)
                if group.baseline else None)
        reference = base.median if base else statistics.median(m.median for _, m in points)
        trend = analyse([m.median for _, m in points], reference, tolerance,
                        points[0][1].higher_is_better)
        verdicts = tuple(judge_metric(base, m, tolerance)[0] if base and tolerance is not None else None
                         for _, m in points)
        lines.append(Line(group, case_key, method, name, points, reference, base, tolerance,
                          trend, verdicts))
    return lines


def findings(lines: Sequence[Line]) -> tuple[list[str], list[str]]:
    """Terminal lines: change points beyond tolerance, then drifts (those for the worse last)."""
    steps, drifts = [], []
    for line in lines:
        tol = f"±{line.tolerance * 100:.2g}%" if line.tolerance is not None else "ungated"
        for cp in line.trend.change_points:
            if line.tolerance is not None and abs(cp.step) > line.tolerance:
                index = line.points[cp.index][0]
                steps.append(f"step: {line.group.gpu}: {line.name} {line.moved(cp.before, cp.after)} at "
                             f"{line.at(index)} (tolerance {tol})")
        if line.trend.drift and line.trend.fit:
            drifts.append(f"drift ({line.trend.drift}): {line.group.gpu}: {line.name} "
                          f"{line.moved(*line.trend.fit)} over {line.trend.points} sessions "
                          f"(tolerance {tol}), no single step beyond it")
    drifts.sort(key=lambda text: text.startswith("drift (worse)"))
    return steps, drifts
