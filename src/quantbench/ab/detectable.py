"""What a same-host A/B can detect: each watched metric's paired test at the family's level.

The A/B's verdicts (``ab.paired``) take Holm's correction over its m paired tests, so a single
metric that moved must reach p <= α/m (Holm's first step; the Bonferroni bound) to fail. Its
*minimum detectable effect* is therefore ``stats.detectable_effect`` at α/m: the true change the
A/B would find with 80 % power (statistical power, not watts). ``ab --pairs auto`` adds pairs
until every *watched* metric (gated, in every session, not a counter: counters are judged pair by
pair, so more pairs never sharpen them) has a half-width at that level within log(1 + tolerance),
so a change of the tolerance's size would show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from quantbench.ab.paired import gated_samples, is_exact, keyed, oriented
from quantbench.ab.reasons import AbNote, AutoMaximum, AutoStopped, StillNoisy
from quantbench.results import CaseResult
from quantbench.stats import ALPHA, PairedTest, log_ratios, paired_test

_EPS = 1e-12


@dataclass(frozen=True)
class Detectable:
    """A watched metric's paired test after K pairs, against its tolerance, at the level the
    A/B's ``tests`` paired tests leave it (α / tests)."""

    case_key: str
    method: str
    metric: str
    test: PairedTest
    tolerance: float
    tests: int = 1

    @property
    def alpha(self) -> float:
        """The two-sided level one moved metric must reach: Holm's first step, α / m."""
        return ALPHA / max(1, self.tests)

    @property
    def halfwidth(self) -> float:
        """The half-width (log scale) of the interval at ``alpha``."""
        return self.test.halfwidth_at(self.alpha)

    @property
    def mde(self) -> float:
        """The smallest true change found with 80 % power at ``alpha``, as a relative change."""
        return self.test.mde_at(self.alpha)

    @property
    def enough(self) -> bool:
        """Whether the half-width is within log(1 + tolerance): a change of the tolerance's size
        would then be significant."""
        return self.halfwidth <= math.log1p(self.tolerance) + _EPS


def detectable(base: Sequence[Sequence[CaseResult]], head: Sequence[Sequence[CaseResult]],
               tolerance: Callable[[str], float]) -> list[Detectable]:
    """The paired test of every watched metric, each knowing how many there are (m)."""
    base_k = [keyed(s) for s in base]
    head_k = [keyed(s) for s in head]
    common = set(base_k[0]).intersection(*base_k, *head_k)
    found = []
    for key in sorted(common):
        measured, _ = gated_samples([s[key] for s in base_k], [s[key] for s in head_k])
        for name, b, h in measured:
            hib, bm, hm = oriented(name, b, h)
            if not is_exact(name, [*b, *h]) and min(bm + hm) > 0:
                found.append((key, name, paired_test(log_ratios(bm, hm, hib)), tolerance(name)))
    return [Detectable(*key, name, test, tol, len(found)) for key, name, test, tol in found]


def auto_notes(found: Sequence[Detectable], pairs: int, maximum: int) -> list[AbNote]:
    """How ``--pairs auto`` stopped: every watched metric precise enough, or the maximum reached
    with the metrics still too noisy, each of those its own note."""
    noisy = [p for p in found if not p.enough]
    if not noisy:
        return [AutoStopped(pairs, len(found))]
    return [AutoMaximum(maximum, len(noisy))] + [
        StillNoisy(p.case_key, p.method, p.metric, math.expm1(p.halfwidth), p.tests, p.mde, p.tolerance)
        for p in noisy]
