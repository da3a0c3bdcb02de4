"""One metric over many sessions, judged: every (case, method, metric) series of a group of
samples (``history.series``) with its change points and drift (``stats.changes.analyse``: why
PELT and a Theil-Sen line, and how each is called), and each point's verdict against the
current baseline (``judge.compare.judge_metric``). The words are ``report.trend_lines``'.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Sequence

from quantbench.catalog import gated
from quantbench.config import Settings
from quantbench.history.series import Group
from quantbench.judge.compare import judge_metric
from quantbench.results import Metric
from quantbench.stats import Trend, analyse


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
