"""Judge a run against its baseline: one verdict per (case, method, metric) the baseline holds.

The test. A metric regresses when it is both *worse than its tolerance* and *beyond the
measurement noise of both sides*; either alone is not enough. The tolerance (``Settings.tolerance``:
per metric, else per kind; throughput and latency 10 %, memory 5 %) says how much change matters.
The noise test says whether the change is real: each stored median carries a 95 % interval, whose
half-width / 1.96 approximates the median's standard error, and

    z = (current - baseline) / sqrt(se_baseline**2 + se_current**2)

is significant when ``|z| > 1.96`` (two-sided, 5 %). The normal approximation is deliberately
simple: the intervals are bootstrap intervals of medians, and the verdict only needs to tell a
real shift from a noisy run, not an exact p-value.

When noise cannot be judged, the tolerance decides alone:

* both sides have zero-width intervals (exact counts such as weights bytes): any change is real;
* either side is a value with *unknown* noise: a zero-width interval on a metric that is not an
  exact count (``stop != "exact"``), which is how a published single number without any spread is
  stored (``low == high == median``, ``n = 1``, ``stop = "published"``). Treating it as exact would
  make every tiny difference "significant"; treating it as noise-free is just as unfounded, so the
  tolerance (set to what matters) is the whole test.

Approximate published values (``"~6.3"`` in their source) are stored with an interval of half a
unit in the last digit given (``6.25 .. 6.35``) and ``approximate = True``; that interval enters
the z-test like any other.

Verdicts: ``pass``; ``regression`` (fails the gate); ``improvement`` (better than tolerance and
beyond noise: the baseline may be stale); ``within noise`` (worse than tolerance but not
distinguishable from noise); ``not run`` (the baseline holds it, this session did not measure it;
reported, does not fail the gate: the caller decides, see ``Comparison.not_run``); ``info``
(``info``-kind metrics explain a result and are never gated; their change is still shown).
``change`` is the signed relative change with positive meaning better (already flipped for
lower-is-better metrics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from quantbench.judge.baseline import Baseline, BaselineError, gpu_slug, model_slug
from quantbench.catalog import spec
from quantbench.results import CaseResult, Metric
from quantbench.config import Scenario, Settings
from quantbench.sources import same_model

Z_CRITICAL = 1.96
_EPS = 1e-9
SCENARIO_FIELDS = tuple(Scenario("fields").comparable_fields())

PASS = "pass"
REGRESSION = "regression"
IMPROVEMENT = "improvement"
WITHIN_NOISE = "within noise"
NOT_RUN = "not run"
INFO = "info"
FAIL = "quality fail"  # a quality metric past its threshold (``judge.quality``)
FAILING = (REGRESSION, FAIL)


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


def check_compatible(
    baseline: Baseline, *, gpu: str, model_source: str, scenario: Mapping[str, Any]
) -> None:
    """Raise ``BaselineError`` when ``baseline`` cannot judge this run: another GPU, another model,
    or a comparable scenario field (``Scenario.comparable_fields``) that differs. Only fields
    present on both sides are compared, since a published baseline may state only some."""
    if gpu_slug(baseline.gpu) != gpu_slug(gpu):
        raise BaselineError(f"baseline is for {baseline.gpu}, this GPU is {gpu}")
    if model_slug(baseline.model_source) != model_slug(model_source):
        raise BaselineError(
            f"baseline is for model {baseline.model_source}, this run uses {model_source}"
        )
    if not same_model(baseline.model_source, model_source):
        raise BaselineError(f"baseline is for model {baseline.model_source}, this run uses "
                            f"{model_source} (two folders of one name share a baseline file: "
                            "rename one)")
    diffs = [
        f"{key}: baseline {_norm(baseline.scenario[key])}, run {_norm(scenario[key])}"
        for key in SCENARIO_FIELDS
        if key in baseline.scenario and key in scenario
        and _norm(baseline.scenario[key]) != _norm(scenario[key])
    ]
    if diffs:
        raise BaselineError("baseline scenario differs in " + "; ".join(diffs))


@dataclass(frozen=True)
class Row:
    """The verdict on one metric of one method in one case."""

    case_key: str
    method: str
    metric: str
    unit: str
    baseline: Metric | None  # the stored metric; a quality row's threshold; None: no reference
    current: Metric | None
    change: float | None
    tolerance: float | None
    verdict: str
    reason: str
    z: float | None = None

    def to_dict(self) -> dict[str, Any]:
        finite = lambda x: x if x is None or math.isfinite(x) else None  # noqa: E731
        return {
            "case_key": self.case_key, "method": self.method, "metric": self.metric,
            "unit": self.unit, "baseline": self.baseline.to_dict() if self.baseline else None,
            "current": self.current.to_dict() if self.current else None,
            "change": finite(self.change), "tolerance": self.tolerance, "z": finite(self.z),
            "verdict": self.verdict, "reason": self.reason,
        }


@dataclass(frozen=True)
class Comparison:
    """All rows of one comparison and one-line notes (skips, results without a baseline)."""

    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline_gpu": self.baseline_gpu, "baseline_provenance": self.baseline_source,
            "exit_ok": self.exit_ok, "regressions": len(self.regressions),
            "improvements": len(self.improvements), "notes": list(self.notes),
            "rows": [r.to_dict() for r in self.rows],
        }


def relative_change(baseline: float, current: float, higher_is_better: bool) -> float:
    """Signed relative change, positive = better; ±inf when the baseline is 0 and the run is not."""
    diff = current - baseline if higher_is_better else baseline - current
    if baseline == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / abs(baseline)


def _std_error(metric: Metric) -> float | None:
    """The median's standard error from its 95 % interval; ``None`` when the noise is unknown."""
    width = metric.high - metric.low
    if width <= 0:
        return 0.0 if metric.stop == "exact" else None
    return width / 2 / Z_CRITICAL


def z_score(baseline: Metric, current: Metric) -> float | None:
    """``(current - baseline) / sqrt(se_b² + se_c²)``; ``None`` when noise cannot be judged."""
    se_b, se_c = _std_error(baseline), _std_error(current)
    if se_b is None or se_c is None or se_b == se_c == 0:
        return None
    return (current.median - baseline.median) / math.hypot(se_b, se_c)


def percent(fraction: float) -> str:
    """A tolerance as a percentage with the digits it needs (10%, 3%, 0.5%)."""
    return f"{fraction * 100:.2g}%"


def judge(base: Metric, current: Metric, tolerance: float) -> tuple[str, str, float, float | None]:
    """Verdict, reason, change and z of one metric (see the module docstring)."""
    if not (math.isfinite(base.median) and math.isfinite(current.median)):  # never "within ±10 %"
        return REGRESSION, f"not a finite value: baseline {base.median}, now {current.median}", math.nan, None
    change = relative_change(base.median, current.median, base.higher_is_better)
    z = z_score(base, current)
    noisy = z is not None and abs(z) <= Z_CRITICAL
    how = "tolerance alone (no usable spread)" if z is None else f"|z| = {abs(z):.1f}"
    pct = f"{change * 100:+.1f}%" if math.isfinite(change) else "from 0"
    tol = percent(tolerance)
    if change < -(tolerance + _EPS):
        if noisy:
            return WITHIN_NOISE, f"{pct} is past ±{tol} but {how} ≤ {Z_CRITICAL}", change, z
        return REGRESSION, f"{pct} is worse than ±{tol}; {how}", change, z
    if change > tolerance + _EPS:
        if noisy:
            return PASS, f"{pct} is better than ±{tol} but within noise ({how})", change, z
        return IMPROVEMENT, f"{pct} is better than ±{tol}: baseline may be stale", change, z
    return PASS, f"{pct} is within ±{tol}", change, z


def _counted(value: float) -> str:
    return f"{value:.6g}" if value >= 100 else f"{value:.4g}"


def _moved(row: Row) -> str:
    if spec(row.metric).kind == "count" and row.baseline and row.current:
        return f"{row.metric} {_counted(row.baseline.median)} → {_counted(row.current.median)}"
    change = "" if row.change is None else f" {row.change * 100:+.1f}%"
    return f"{row.metric}{change}"


def what_moved(rows: tuple[Row, ...] | list[Row]) -> list[str]:
    """One line per (case, method) that failed, saying what moved: GPU work (device time,
    kernels), host work (launches, Python calls), or only the wall clock (the software's host
    path, or only the machine: its device time and counters held)."""
    failing: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row.verdict == REGRESSION and row.current is not None:  # a lost method has its own note
            failing.setdefault((row.case_key, row.method), []).append(row)
    lines = []
    for (case_key, method), bad in failing.items():
        families = {spec(r.metric).family for r in bad}
        held = [r for r in rows if (r.case_key, r.method) == (case_key, method)
                and spec(r.metric).family in ("gpu", "host") and r.verdict == PASS]
        if "gpu" in families:
            what = "GPU work"
        elif "host" in families:
            what = "host work"
        elif families == {"wall"}:
            what = ("only the wall clock: device time and work counters held, so the machine"
                    if held else "the wall clock (no device-time figures here to tell the "
                    "software from the machine)")
        else:
            what = ", ".join(sorted(families))
        detail = "; ".join(_moved(r) for r in bad[:4])
        lines.append(f"moved: {case_key} {method}: {what} ({detail})")
    return lines


def _not_run_reason(
    case_key: str, method: str, current: dict[tuple[str, str], CaseResult],
    skipped: Mapping[str, str],
) -> str:
    if method in skipped:
        return f"skipped: {skipped[method]}"
    if (case_key, method) in current:
        return "metric not measured in this run"
    if not any(m == method for _, m in current):
        return "method did not run in this session"
    return "case did not run in this session"


def compare(
    baseline: Baseline,
    results: list[CaseResult],
    settings: Settings,
    *,
    skipped: Mapping[str, str] | None = None,
) -> Comparison:
    """One ``Row`` per (case, method, metric) the baseline holds; ``skipped`` maps method -> reason
    for methods the session could not run (their rows are ``not run`` with that reason)."""
    skipped = dict(skipped or {})
    current = {(r.case_key, r.method): r for r in results}
    rows: list[Row] = []
    notes: list[str] = []
    for case_key, method, base in baseline.entries():
        result = current.get((case_key, method))
        now = result.metrics.get(base.name) if result else None
        kind = spec(base.name).kind
        if kind == "quality":
            continue  # judged by its thresholds against the reference method (``judge.quality``)
        tolerance = None if kind == "info" else settings.tolerance(base.name)
        if now is None:
            reason = _not_run_reason(case_key, method, current, skipped)
            note = f"not run: {case_key} {method} ({reason})"
            if note not in notes:
                notes.append(note)
            rows.append(Row(case_key, method, base.name, base.unit, base, None, None, tolerance,
                            NOT_RUN, reason))
            continue
        if tolerance is None:
            change = relative_change(base.median, now.median, base.higher_is_better)
            rows.append(Row(case_key, method, base.name, base.unit, base, now, change, None, INFO,
                            "info metric, never gated", z_score(base, now)))
            continue
        verdict, reason, change, z = judge(base, now, tolerance)
        if kind == "count" and verdict != PASS:
            reason = f"{_counted(base.median)} → {_counted(now.median)} {base.unit} ({reason})"
        rows.append(Row(case_key, method, base.name, base.unit, base, now, change, tolerance,
                        verdict, reason, z))
    for case_key, method in current:
        if method not in baseline.results.get(case_key, {}):
            notes.append(f"no baseline for {case_key} {method} (not compared)")
    return Comparison(tuple(rows), tuple(notes), baseline.gpu, dict(baseline.provenance))
