"""The paired test of K pairs' log ratios and its detectable effect (power analysis).

Pair i gives one oriented log ratio, r_i = log(head_i / base_i) (negated for lower-is-better
metrics: positive means better). The change is the geometric mean ratio, exp(mean r) − 1, and its
95 % interval is mean r ± t(K−1) · s / √K (Student's t; s the standard deviation of the r_i).
The *minimum detectable effect* at two-sided level α is

    MDE = (t(K−1, 1 − α/2) + t(K−1, 0.80)) · s / √K    (log scale; reported as exp(MDE) − 1)

the true change the test would find with 80 % power.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

from quantbench.stats.intervals import t975, t_quantile

POWER = 0.80  # the chance of finding a change of the detectable effect's size


def detectable_effect(stdev: float, k: int, alpha: float, power: float = POWER) -> float:
    """The smallest true change (relative) that a paired t-test of ``k`` log ratios of standard
    deviation ``stdev`` finds at two-sided level ``alpha`` with probability ``power``."""
    df = k - 1
    return math.expm1((t_quantile(1 - alpha / 2, df) + t_quantile(power, df)) * stdev / math.sqrt(k))


@dataclass(frozen=True)
class PairedTest:
    """Mean and 95 % half-width of K oriented log ratios (positive = head better)."""

    mean: float
    halfwidth: float
    k: int
    stdev: float

    @property
    def mde(self) -> float:
        """Minimum detectable effect (5 % two-sided, 80 % power) as a relative change."""
        return self.mde_at(0.05)

    def mde_at(self, alpha: float) -> float:
        """Minimum detectable effect at two-sided level ``alpha`` with 80 % power."""
        return detectable_effect(self.stdev, self.k, alpha)

    def halfwidth_at(self, alpha: float) -> float:
        """Half-width (log scale) of the two-sided ``1 − alpha`` interval of the mean ratio."""
        return t_quantile(1 - alpha / 2, self.k - 1) * self.stdev / math.sqrt(self.k)

    @property
    def p(self) -> float:
        """Two-sided p-value of the paired t-test of no change (0 when every pair agrees on a
        nonzero change, 1 when every pair reads exactly 0)."""
        t = self.t
        if math.isinf(t):
            return 0.0
        from scipy import stats  # scipy: loaded only once something is judged

        return 2 * float(stats.t.sf(abs(t), self.k - 1))

    @property
    def change(self) -> float:
        """Geometric-mean relative change, positive = better."""
        return math.expm1(self.mean)

    @property
    def interval(self) -> tuple[float, float]:
        """The 95 % interval of the change, as relative changes."""
        return math.expm1(self.mean - self.halfwidth), math.expm1(self.mean + self.halfwidth)

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0 (no change)."""
        return self.mean - self.halfwidth > 0 or self.mean + self.halfwidth < 0

    @property
    def t(self) -> float:
        """The paired t statistic, mean / (s / √K); ±inf when every pair agrees exactly."""
        if self.stdev == 0:
            return 0.0 if self.mean == 0 else math.copysign(math.inf, self.mean)
        return self.mean / (self.stdev / math.sqrt(self.k))


def log_ratios(base: Sequence[float], head: Sequence[float], higher_is_better: bool) -> list[float]:
    """Per-pair ``log(head / base)``, negated for lower-is-better metrics (positive = better)."""
    sign = 1.0 if higher_is_better else -1.0
    return [sign * math.log(h / b) for b, h in zip(base, head, strict=True)]


def paired_test(ratios: Sequence[float]) -> PairedTest:
    """Mean and Student-t 95 % half-width of the per-pair log ratios (at least two pairs)."""
    k = len(ratios)
    if k < 2:
        raise ValueError(f"a paired test needs at least 2 pairs, got {k}")
    mean = statistics.fmean(ratios)
    stdev = statistics.stdev(ratios)
    return PairedTest(mean, t975(k - 1) * stdev / math.sqrt(k), k, stdev)
