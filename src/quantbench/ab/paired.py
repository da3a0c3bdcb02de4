"""Judge head against base from K alternating same-host pairs: a paired test per metric.

Same-host A/B (``quantbench.commands.ab``) runs base and head in turn on one machine, so whatever the
machine does to one run of a pair it does to the other, and what is left to judge is the noise
*within* that host. Pair i gives one oriented log ratio per metric,

    r_i = log(head_i / base_i)    (negated for lower-is-better metrics: positive means better)

of the two sessions' medians. The change is the geometric mean ratio, exp(mean r) − 1, and its
95 % interval is mean r ± t(K−1) · s / √K (the paired test, ``stats.paired_test``; s the
standard deviation of the r_i). Following pyperf's rule a difference must be both *significant*
and *large enough*:

* ``regression``: the change is worse than the metric's tolerance and its p-value, after Holm's
  correction over every paired test of the A/B, is at most ``stats.ALPHA``; ``improvement``
  symmetrically;
* ``within noise``: worse than the tolerance but not significant after that correction;
* ``pass``: otherwise.

Holm's correction keeps the chance that identical sides fail *any* row at most 5 %, whatever
the dependence between the rows: a session's six wall-clock metrics and two kernel times are
eight tests, and an A/B of identical sides failed token p99 on an unadjusted 95 % interval
(docs/results holds the run).

Each metric's smallest detectable change at that corrected level is ``ab.detectable``'s.

Exact counters (catalog kind ``count``, ``stop == "exact"`` or zero-width intervals: kernels per
token, weight bytes) need no t-test: identical in every pair passes; a change beyond the
tolerance in the same direction in every pair is a regression (or improvement) naming the values
("decode_kernels 1029.34 → 1173.34"); a change in only some pairs is ``within noise``. Values a
log cannot take (0 or below) are judged by that same per-pair rule.
"""

from __future__ import annotations

import statistics
from typing import Callable, Sequence

from quantbench.ab.reasons import (AbNote, AbReason, ExactPairs, HeadLost, NotInEveryRun, NotInEverySession,
                                  PairedJudged, PairedRule, PairRule)
from quantbench.catalog import SPECS, gated, spec
from quantbench.stats import merge_metric
from quantbench.judge.compare import IMPROVEMENT, PASS, REGRESSION, WITHIN_NOISE, Comparison, Row, relative_change
from quantbench.results import CaseResult, Metric
from quantbench.stats import ALPHA, PairedTest, holm, log_ratios, paired_test

_EPS = 1e-12


def judge_paired(test: PairedTest, tolerance: float, p: float | None = None,
                 tests: int = 1) -> tuple[str, PairedJudged]:
    """Verdict and reason of one metric's paired test against its tolerance; ``p`` is its
    p-value after Holm's correction over the A/B's ``tests`` paired tests (alone: its own)."""
    low, high = test.interval
    mde = test.mde_at(ALPHA / tests) if tests > 1 else test.mde
    if p is None:
        p = test.p
    significant = p <= ALPHA
    if test.change < -(tolerance + _EPS):
        verdict, rule = (REGRESSION, PairedRule.WORSE) if significant else (WITHIN_NOISE, PairedRule.NOISY_WORSE)
    elif test.change > tolerance + _EPS:
        verdict, rule = (IMPROVEMENT, PairedRule.BETTER) if significant else (PASS, PairedRule.NOISY_BETTER)
    else:
        verdict, rule = PASS, PairedRule.WITHIN
    return verdict, PairedJudged(rule, test.change, test.k, low, high, mde, tests, p, tolerance)


def judge_per_pair(name: str, base: Sequence[float], head: Sequence[float],
                   higher_is_better: bool, tolerance: float) -> tuple[str, ExactPairs]:
    """Verdict of a counter: the same change beyond tolerance in every pair, or none."""
    changes = [relative_change(b, h, higher_is_better) for b, h in zip(base, head, strict=True)]
    worse = sum(c < -(tolerance + _EPS) for c in changes)
    better = sum(c > tolerance + _EPS for c in changes)
    if all(b == h for b, h in zip(base, head)):
        verdict, rule = PASS, PairRule.IDENTICAL
    elif worse == len(changes):
        verdict, rule = REGRESSION, PairRule.WORSE
    elif better == len(changes):
        verdict, rule = IMPROVEMENT, PairRule.BETTER
    elif worse:
        verdict, rule = WITHIN_NOISE, PairRule.SOME_WORSE
    else:
        verdict, rule = PASS, PairRule.WITHIN
    return verdict, ExactPairs(rule, name, statistics.median(base), statistics.median(head), tolerance,
                               worse, len(changes))


def is_exact(name: str, samples: Sequence[Metric]) -> bool:
    """A counter: catalog kind ``count``, or every sample exact or several identical values.

    One timed round gives an interval of zero width that says nothing of the noise (the default
    session takes one round per generate case), so a single sample is never taken for exact:
    that would send every wall-clock metric of ``ab`` to the pair-by-pair rule and leave
    ``--pairs auto`` "no timed metric to watch"."""
    return spec(name).kind == "count" or all(
        m.stop == "exact" or (m.n > 1 and m.low == m.high) for m in samples)


def oriented(name: str, base: Sequence[Metric], head: Sequence[Metric]
              ) -> tuple[bool, list[float], list[float]]:
    """Whether higher is better, and each side's per-session medians."""
    hib = spec(name).higher_is_better if name in SPECS else base[0].higher_is_better
    return hib, [m.median for m in base], [m.median for m in head]


def timed_test(name: str, base: Sequence[Metric], head: Sequence[Metric]) -> PairedTest | None:
    """The paired t-test of one timed metric over the pairs, or ``None`` for a counter (or a
    value a log cannot take), which is judged pair by pair."""
    hib, b, h = oriented(name, base, head)
    if is_exact(name, [*base, *head]) or min(b + h) <= 0:
        return None
    return paired_test(log_ratios(b, h, hib))


def judge_metric(name: str, base: Sequence[Metric], head: Sequence[Metric], tolerance: float,
                 p: float | None = None, tests: int = 1
                 ) -> tuple[str, AbReason, float, float | None]:
    """Verdict, reason, change (positive = better) and t statistic (``None`` for counters) of
    one metric over the pairs; ``p`` is its Holm-adjusted p-value over ``tests`` paired tests. A
    counter's change is that of the median of each side."""
    test = timed_test(name, base, head)
    if test is None:
        hib, b, h = oriented(name, base, head)
        change = relative_change(statistics.median(b), statistics.median(h), hib)
        return (*judge_per_pair(name, b, h, hib, tolerance), change, None)
    return (*judge_paired(test, tolerance, p, tests), test.change, test.t)


def gated_samples(base: Sequence[CaseResult], head: Sequence[CaseResult]
           ) -> tuple[list[tuple[str, list[Metric], list[Metric]]], list[str]]:
    """The gated metrics of one case and method that every session measured, as (name, base
    samples, head samples), and the names of those only some sessions measured."""
    names = dict.fromkeys(n for r in [*base, *head] for n in r.metrics)
    measured, partial = [], []
    for name in names:
        if not gated(name):
            continue
        b = [r.metrics.get(name) for r in base]
        h = [r.metrics.get(name) for r in head]
        if None in b or None in h:
            partial.append(name)
        else:
            measured.append((name, b, h))
    return measured, partial  # type: ignore[return-value]


def _lost(base: Sequence[CaseResult], head: Sequence[CaseResult]) -> list[tuple[str, HeadLost]]:
    """Gated metrics every base run measured and some head run did not (head stopped emitting
    them: lost, as a lost case is), with the head runs that lack them (1-based)."""
    out = []
    for name in dict.fromkeys(n for r in base for n in r.metrics):
        if not gated(name) or not all(name in r.metrics for r in base):
            continue
        missing = tuple(i + 1 for i, r in enumerate(head) if name not in r.metrics)
        if missing:
            out.append((name, HeadLost(missing)))
    return out


def keyed(results: Sequence[CaseResult]) -> dict[tuple[str, str], CaseResult]:
    """One session's results by (case key, method)."""
    return {(r.case_key, r.method): r for r in results}


def paired_comparison(base: Sequence[Sequence[CaseResult]], head: Sequence[Sequence[CaseResult]],
                      tolerance: Callable[[str], float], *, label: str = "base") -> Comparison:
    """One ``Row`` per gated (case, method, metric) that every session measured, judging head's
    pairs against base's. ``base[i]`` and ``head[i]`` are the results of pair i. A case, or a
    metric of a case, that every base run measured and a head run lacks is a regression (head
    lost it); other metrics and cases not in every session are named in the notes."""
    if len(base) != len(head):
        raise ValueError(f"{len(base)} base sessions but {len(head)} head sessions")
    base_k = [keyed(s) for s in base]
    head_k = [keyed(s) for s in head]
    rows: list[Row] = []
    notes: list[AbNote] = []
    pending: list[tuple[str, str, str, list[Metric], list[Metric]]] = []
    for key in sorted(set().union(*base_k, *head_k)):
        case_key, method = key
        in_base = all(key in s for s in base_k)
        missing = [i + 1 for i, s in enumerate(head_k) if key not in s]
        if in_base and missing:
            lost = HeadLost(tuple(missing))
            for name in base_k[0][key].metrics:
                if gated(name) and all(name in s[key].metrics for s in base_k):
                    merged = merge_metric([s[key].metrics[name] for s in base_k])
                    rows.append(Row(case_key, method, name, merged.unit, merged, None, None,
                                    tolerance(name), REGRESSION, lost))
            continue
        if not in_base or missing:
            notes.append(NotInEveryRun(case_key, method, "base" if not in_base else "head"))
            continue
        samples_b = [s[key] for s in base_k]
        measured, partial = gated_samples(samples_b, [s[key] for s in head_k])
        for name, lost in _lost([s[key] for s in base_k], [s[key] for s in head_k]):
            merged = merge_metric([r.metrics[name] for r in samples_b])
            rows.append(Row(case_key, method, name, merged.unit, merged, None, None,
                            tolerance(name), REGRESSION, lost))
        partial = [n for n in partial if n not in dict(_lost(samples_b, [s[key] for s in head_k]))]
        pending.extend((case_key, method, name, b, h) for name, b, h in measured)
        if partial:
            notes.append(NotInEverySession(case_key, method, tuple(partial)))
    tests = [timed_test(name, b, h) for *_, name, b, h in pending]
    adjusted = iter(holm([t.p for t in tests if t is not None]))
    count = sum(t is not None for t in tests)
    for (case_key, method, name, b, h), test in zip(pending, tests):
        tol = tolerance(name)
        p = next(adjusted) if test is not None else None
        verdict, reason, change, t = judge_metric(name, b, h, tol, p, count)
        baseline, current = merge_metric(b), merge_metric(h)
        rows.append(Row(case_key, method, name, baseline.unit, baseline, current, change, tol,
                        verdict, reason, t, p))
    return Comparison(tuple(rows), tuple(notes), label)

