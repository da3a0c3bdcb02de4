"""Judge a run against its baseline: one verdict per (case, method, metric) the baseline holds.

A metric regresses when it is both *worse than its tolerance* and *beyond the noise* it is
exposed to; either alone is not enough (pyperf's rule). The tolerance (``Settings.tolerance``: per
metric, else per kind) says how much change matters. The noise test (``judge.evidence``) says
whether the change is real, with one p-value per metric and Holm's correction over every metric
the session tests, so an unchanged build fails with probability at most ``stats.ALPHA``:

* wall-clock metrics (family ``wall``) against the spread of the baseline's *sessions*: with
  ``evidence.MIN_WALL_SESSIONS`` or more, a prediction test on their medians; with fewer, a move is
  ``unconfirmed`` (reported with the A/B that would confirm it; it fails only when
  ``evidence.WALL_PRIOR_FACTOR`` times worse);
* device time against the spread of the window's sessions pooled over the mode's rows
  (``stats.pooled_spread``) once it holds two; counts, memory and a one-session window: both
  sides' intervals in a z-test; where noise cannot be judged (exact counts, one profiled round, a
  published single number) the tolerance decides alone.

Verdicts: ``pass``; ``regression`` (fails the gate); ``improvement`` (better than tolerance and
beyond noise: the baseline may be stale); ``within noise``; ``unconfirmed``; ``not run`` (the
baseline holds it, this session did not measure it; the caller decides, ``Comparison.not_run``);
``info`` (explains a result, never gated). ``change`` is the signed relative change with positive
meaning better (flipped for lower-is-better metrics). docs/gating.md has the whole argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from quantbench.store.baseline import Baseline
from quantbench.judge.evidence import MIN_WALL_SESSIONS, WALL_PRIOR_FACTOR, Evidence, factor
from quantbench.judge.reasons import (Absence, Fixed, Judged, Note, NotRun, NotRunNote, Reason, Rule,
                                      Unbaselined)
from quantbench.store.window import evidence, evidence_by_row
from quantbench.catalog import spec
from quantbench.results import CaseResult, Metric
from quantbench.config import Settings
from quantbench.stats import ALPHA, holm, p_value, pooled_spread, z_score

_EPS = 1e-9

PASS = "pass"
REGRESSION = "regression"
IMPROVEMENT = "improvement"
WITHIN_NOISE = "within noise"
NOT_RUN = "not run"
# A wall-clock row past its tolerance against a baseline of too few sessions to know the wall
# clock's spread between sessions: reported with the A/B that would confirm it; does not fail.
UNCONFIRMED = "unconfirmed"
INFO = "info"
FAIL = "quality fail"  # a quality metric past its threshold (``judge.quality``)
FAILING = (REGRESSION, FAIL)


@dataclass(frozen=True)
class Row:
    """The verdict on one metric of one method in one case."""

    case_key: str
    method: str
    metric: str
    unit: str
    baseline: Metric | None  # the stored metric; None: no baseline (a quality row, a new metric)
    current: Metric | None
    change: float | None
    tolerance: float | None
    verdict: str
    reason: Reason  # why, as data: ``report.reasons`` says it
    z: float | None = None
    p: float | None = None  # after Holm's correction over the session's tests
    threshold: float | None = None  # a judged quality row's limit (``judge.quality``), not a baseline


@dataclass(frozen=True)
class Comparison:
    """All rows of one comparison and its notes (skips, results without a baseline), as data."""

    rows: tuple[Row, ...]
    notes: tuple[Note, ...] = ()
    baseline_gpu: str = ""
    baseline_source: dict[str, Any] = field(default_factory=dict)

    def _with(self, verdict: str) -> list[Row]:
        return [r for r in self.rows if r.verdict == verdict]

    @property
    def regressions(self) -> list[Row]:
        """Rows that fail the gate: speed or memory regressions and quality failures."""
        return [r for r in self.rows if r.verdict in FAILING]

    @property
    def improvements(self) -> list[Row]:
        return self._with(IMPROVEMENT)

    @property
    def not_run(self) -> list[Row]:
        return self._with(NOT_RUN)

    @property
    def ran(self) -> list[Row]:
        """The rows of metrics this session measured (every verdict but ``not run``)."""
        return [r for r in self.rows if r.verdict != NOT_RUN]

    @property
    def exit_ok(self) -> bool:
        """True when nothing regressed or failed (``not run`` rows are reported, not failed)."""
        return not self.regressions


def relative_change(baseline: float, current: float, higher_is_better: bool) -> float:
    """Signed relative change, positive = better; ±inf when the baseline is 0 and the run is not."""
    diff = current - baseline if higher_is_better else baseline - current
    if baseline == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / abs(baseline)


def judge_metric(base: Metric, current: Metric, tolerance: float,
                 evidence: Evidence = Evidence()) -> tuple[str, Judged, float]:
    """Verdict, reason and change of one metric (see the module docstring)."""
    if not (math.isfinite(base.median) and math.isfinite(current.median)):  # never "within ±10 %"
        return REGRESSION, Judged(Rule.NOT_FINITE, base.median, current.median, math.nan,
                                  tolerance, evidence), math.nan
    change = relative_change(base.median, current.median, base.higher_is_better)
    worse, better = change < -(tolerance + _EPS), change > tolerance + _EPS
    times = factor(base.median, current.median, base.higher_is_better)
    verdict, rule = _decide(worse, better, evidence, times)
    return verdict, Judged(rule, base.median, current.median, change, tolerance, evidence, times), change


def _decide(worse: bool, better: bool, evidence: Evidence, times: float) -> tuple[str, Rule]:
    """The verdict and the rule that gave it: a young baseline's wall clock by the prior
    factor, the rest by tolerance and noise."""
    if evidence.wall and evidence.sessions < MIN_WALL_SESSIONS and (worse or better):
        if worse and times >= WALL_PRIOR_FACTOR:
            return REGRESSION, Rule.FAR_WORSE
        if worse:
            return UNCONFIRMED, Rule.YOUNG_WORSE
        if times <= 1 / WALL_PRIOR_FACTOR:
            return IMPROVEMENT, Rule.FAR_BETTER
        return PASS, Rule.YOUNG_BETTER
    noisy = evidence.p is not None and evidence.p > ALPHA
    if worse:
        return (WITHIN_NOISE, Rule.NOISY_WORSE) if noisy else (REGRESSION, Rule.WORSE)
    if better:
        return (PASS, Rule.NOISY_BETTER) if noisy else (IMPROVEMENT, Rule.BETTER)
    return PASS, Rule.WITHIN


def _not_run_reason(
    case_key: str, method: str, current: dict[tuple[str, str], CaseResult],
    skipped: Mapping[str, str],
) -> NotRun:
    if method in skipped:
        return NotRun(Absence.SKIPPED, skipped[method])
    if (case_key, method) in current:
        return NotRun(Absence.NOT_MEASURED)
    if not any(m == method for _, m in current):
        return NotRun(Absence.METHOD_ABSENT)
    return NotRun(Absence.CASE_ABSENT)


def compare(
    baseline: Baseline,
    results: list[CaseResult],
    settings: Settings,
    *,
    skipped: Mapping[str, str] | None = None,
) -> Comparison:
    """One ``Row`` per (case, method, metric) the baseline holds; ``skipped`` maps method -> reason
    for methods the session could not run (their rows are ``not run`` with that reason). Every
    row with a p-value enters one Holm correction (``stats.holm``) before its verdict."""
    skipped = dict(skipped or {})
    current = {(r.case_key, r.method): r for r in results}
    rows: list[Row | None] = []
    pending: list[tuple[int, str, str, Metric, Metric, float, Evidence]] = []
    notes: list[Note] = []
    pools: dict[tuple[str, str], tuple[float, int] | None] = {}
    for case_key, method, base in baseline.entries():
        result = current.get((case_key, method))
        now = result.metrics.get(base.name) if result else None
        kind = spec(base.name).kind
        if kind == "quality":
            continue  # judged by its thresholds against the reference method (``judge.quality``)
        tolerance = None if kind == "info" else settings.tolerance(base.name)
        if now is None:
            reason = _not_run_reason(case_key, method, current, skipped)
            note = NotRunNote(case_key, method, reason)
            if note not in notes:
                notes.append(note)
            rows.append(Row(case_key, method, base.name, base.unit, base, None, None, tolerance,
                            NOT_RUN, reason))
            continue
        if tolerance is None:
            change = relative_change(base.median, now.median, base.higher_is_better)
            rows.append(Row(case_key, method, base.name, base.unit, base, now, change, None, INFO,
                            Fixed.INFO_METRIC, z_score(base, now)))
            continue
        wall = spec(base.name).family == "wall"
        medians = evidence(baseline.sessions, case_key, method, base.name)
        pooled = None
        if kind == "device":  # its spread pooled over the mode's rows (``stats.pooled_spread``)
            mode = case_key.partition("/")[0]
            if (mode, base.name) not in pools:
                pools[mode, base.name] = pooled_spread(evidence_by_row(baseline.sessions, mode, base.name))
            pooled = pools[mode, base.name]
        p, z = p_value(base, now, medians, pooled)
        count = len(medians) if baseline.sessions else baseline.session_count
        pending.append((len(rows), case_key, method, base, now, tolerance,
                        Evidence(p, z, count, wall)))
        rows.append(None)
    adjusted = iter(holm([e.p for *_, e in pending if e.p is not None]))
    for index, case_key, method, base, now, tolerance, ev in pending:
        ev = replace(ev, p=next(adjusted)) if ev.p is not None else ev
        verdict, reason, change = judge_metric(base, now, tolerance, ev)
        rows[index] = Row(case_key, method, base.name, base.unit, base, now, change, tolerance,
                          verdict, reason, ev.z, ev.p)
    for case_key, method in current:
        if method not in baseline.results.get(case_key, {}):
            notes.append(Unbaselined(case_key, method))
    return Comparison(tuple(r for r in rows if r is not None), tuple(notes), baseline.gpu,
                      dict(baseline.provenance))
