"""The judge's reasons and notes in words (``judge.reasons``), and comparison.json's rows.

Every verdict row's ``reason`` and every note of a comparison is said here, once: the terminal,
``summary.md``, the PR comment and ``comparison.json`` all read these words.
"""

from __future__ import annotations

import math
from typing import Any

from quantbench.ab.reasons import AbNote, AbReason
from quantbench.catalog import spec
from quantbench.judge.compare import PASS, Comparison, Row
from quantbench.judge.evidence import WALL_PRIOR_FACTOR
from quantbench.judge.reasons import (Absence, Fixed, Judged, LostMethod, LostMethodNote, LostMetrics, Note,
                                      NotGated, NotRun, NotRunNote, QualityVerdict, Reason, Rule, Unbaselined)
from quantbench.report.ab_command import ab_command
from quantbench.report.ab_text import ab_note_text, ab_reason_text
from quantbench.results import percent, signed_percent
from quantbench.stats import ALPHA

FIXED = {
    Fixed.INFO_METRIC: "info metric, never gated",
    Fixed.LOST_METRIC: "measured in the baseline, not in this session: the gate cannot see it",
    Fixed.REFERENCE: "reference method",
    Fixed.SYNTHETIC: "not gated on synthetic weights",
    Fixed.NO_THRESHOLD: "no threshold",
}
ABSENCE = {
    Absence.NOT_MEASURED: "metric not measured in this run",
    Absence.METHOD_ABSENT: "method did not run in this session",
    Absence.CASE_ABSENT: "case did not run in this session",
}
# quality metric: (label in reasons, unit suffix)
QUALITY_LABELS = {
    "token_agreement": ("token agreement", ""),
    "top1_agreement": ("top-1 agreement", ""),
    "kl_divergence": ("KL divergence", " nats"),
}


def _pair(value: float, threshold: float) -> tuple[str, str]:
    """Both numbers with just enough digits that unequal values do not print alike."""
    for digits in (2, 3, 4, 6):
        a, b = f"{value:.{digits}f}", f"{threshold:.{digits}f}"
        if a != b or value == threshold:
            return a, b
    return repr(value), repr(threshold)


def quality_text(verdict: QualityVerdict) -> str:
    """``nf4 KL divergence 0.62 > 0.50 nats``: a quality metric against its threshold."""
    label, unit = QUALITY_LABELS[verdict.metric]
    if math.isnan(verdict.value):
        return f"{verdict.method} {label} is NaN"
    higher_is_better = spec(verdict.metric).higher_is_better
    relation = (">=" if verdict.ok else "<") if higher_is_better else ("<=" if verdict.ok else ">")
    a, b = _pair(verdict.value, verdict.threshold)
    return f"{verdict.method} {label} {a} {relation} {b}{unit}"


def not_run_text(reason: NotRun) -> str:
    """Why a metric the baseline holds has no value here: ``skipped: ...`` or what did not run."""
    if reason.absence is Absence.SKIPPED:
        return f"skipped: {reason.skipped}"
    return ABSENCE[reason.absence]


def lost_method_text(reason: LostMethod) -> str:
    """Why a method that ran in the baseline cannot run now, as the session record says it."""
    return f"skipped: {reason.skipped}" if reason.skipped is not None else reason.failure


def judged_text(reason: Judged) -> str:
    """A measured metric's verdict against its tolerance and noise, in one line."""
    if reason.rule is Rule.NOT_FINITE:
        return f"not a finite value: baseline {reason.base}, now {reason.now}"
    pct, tol, ev = signed_percent(reason.change, "from 0"), percent(reason.tolerance), reason.evidence
    held = f"the baseline holds {ev.sessions} session(s)"
    if reason.rule is Rule.FAR_WORSE:
        return (f"{reason.times:.2f}x worse: beyond the {WALL_PRIOR_FACTOR:g}x a machine "
                f"alone has moved the wall clock ({held})")
    if reason.rule is Rule.YOUNG_WORSE:
        return (f"{pct} is past ±{tol}, but {held}, too few to know the wall "
                "clock's spread between sessions; confirm with the same-host A/B")
    if reason.rule is Rule.FAR_BETTER:
        return f"{pct}: {1 / reason.times:.2f}x better: baseline may be stale"
    if reason.rule is Rule.YOUNG_BETTER:
        return f"{pct} is better than ±{tol} (unconfirmed: {held})"
    if ev.p is None:
        how = "tolerance alone (no usable spread)"
    else:
        where = f"{ev.sessions} sessions" if ev.wall else "intervals"
        how = f"p = {ev.p:.2g} after Holm over the session's tests ({where})"
    return {Rule.NOISY_WORSE: f"{pct} is past ±{tol} but {how} > {ALPHA:g}",
            Rule.WORSE: f"{pct} is worse than ±{tol}; {how}",
            Rule.NOISY_BETTER: f"{pct} is better than ±{tol} but within noise ({how})",
            Rule.BETTER: f"{pct} is better than ±{tol}: baseline may be stale",
            Rule.WITHIN: f"{pct} is within ±{tol}"}[reason.rule]


def _counted(value: float) -> str:
    return f"{value:.6g}" if value >= 100 else f"{value:.4g}"


def words(reason: Reason) -> str:
    """A reason in words, without what its row adds (the A/B command, a counter's values)."""
    if isinstance(reason, AbReason):
        return ab_reason_text(reason)
    if isinstance(reason, Judged):
        return judged_text(reason)
    if isinstance(reason, Fixed):
        return FIXED[reason]
    if isinstance(reason, NotRun):
        return not_run_text(reason)
    if isinstance(reason, LostMethod):
        return f"ran in the baseline, cannot run now: {lost_method_text(reason)}"
    if isinstance(reason, NotGated):
        return f"not gated (min_{reason.metric} = 0)"
    return quality_text(reason)


def reason_text(row: Row) -> str:
    """A row's reason as comparison.json and the tables say it: an unconfirmed move ends in the
    A/B that would confirm it; a counter that did not pass leads with its two values."""
    text = words(row.reason)
    if not isinstance(row.reason, Judged):
        return text
    if row.reason.rule is Rule.YOUNG_WORSE:
        return f"{text}: {ab_command(row.case_key, row.method)}"
    if spec(row.metric).kind == "count" and row.verdict != PASS:
        return f"{_counted(row.reason.base)} → {_counted(row.reason.now)} {row.unit} ({text})"
    return text


def note_text(note: Note) -> str:
    """A comparison's note in one line."""
    if isinstance(note, AbNote):
        return ab_note_text(note)
    if isinstance(note, NotRunNote):
        return f"not run: {note.case_key} {note.method} ({not_run_text(note.reason)})"
    if isinstance(note, Unbaselined):
        names = f" {', '.join(note.metrics)}" if note.metrics else ""
        return f"no baseline for {note.case_key} {note.method}{names} (not compared)"
    if isinstance(note, LostMethodNote):
        return f"lost: {note.method} ran in the baseline and cannot run now ({lost_method_text(note.reason)})"
    assert isinstance(note, LostMetrics)
    return f"lost: {note.case_key} {note.method} measured {', '.join(note.metrics)} in the baseline and not now"


def notes_text(comparison: Comparison) -> list[str]:
    """Every note of ``comparison``, one line each."""
    return [note_text(n) for n in comparison.notes]


def row_dict(row: Row) -> dict[str, Any]:
    """One row as comparison.json holds it (a value that is not finite as ``null``)."""
    finite = lambda x: x if x is None or math.isfinite(x) else None  # noqa: E731
    return {
        "case_key": row.case_key, "method": row.method, "metric": row.metric,
        "unit": row.unit, "baseline": row.baseline.to_dict() if row.baseline else None,
        "current": row.current.to_dict() if row.current else None,
        "change": finite(row.change), "tolerance": row.tolerance, "threshold": row.threshold,
        "z": finite(row.z), "p": row.p, "verdict": row.verdict, "reason": reason_text(row),
    }


def comparison_dict(comparison: Comparison) -> dict[str, Any]:
    """``comparison`` as comparison.json holds it: the counts, the notes and every row."""
    return {
        "baseline_gpu": comparison.baseline_gpu, "baseline_provenance": comparison.baseline_source,
        "exit_ok": comparison.exit_ok, "regressions": len(comparison.regressions),
        "improvements": len(comparison.improvements), "notes": notes_text(comparison),
        "rows": [row_dict(r) for r in comparison.rows],
    }
