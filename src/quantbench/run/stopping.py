"""The measurement side of the statistics: when to stop sampling, and a summary as a metric.

The summary itself (median, bootstrap interval, spread) is ``quantbench.stats.summarize``.
Sampling stops when every watched metric's interval is within the target (±2 % by default),
when the time budget is spent, or at the round cap, and the reason is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from quantbench.catalog import spec
from quantbench.results import Metric
from quantbench.stats import Summary, summarize


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
