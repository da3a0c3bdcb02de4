"""The gate: judge a session record and say which exit status it deserves.

One verdict list: quality thresholds always (a method whose outputs broke fails the session
like a slowdown does), plus, with ``--benchmark-compare``, every metric against the stored
baseline of this GPU and model; or, with ``--qb-update-baseline``, write the session as that
baseline. The same function judges a live session and a saved ``session.json``
(``python -m quantbench compare``).

Exit statuses: 0 pass, 1 a regression or a quality failure, 4 a baseline that cannot be used
(corrupt, wrong schema, another GPU or model, a scenario that differs) or a comparison that
judged nothing (no baseline for this GPU yet, which says how to make one, is a pass only when
allowed: ``judge.inputs``). The stored file is only ever read here, except by
an explicit update, which writes atomically and keeps the previous file in ``history/``.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, replace

from quantbench import exits
from quantbench.config import Settings
from quantbench.files import describe
from quantbench.judge.baseline import (
    BaselineError,
    baseline_from_results,
    baseline_path,
    load_baseline,
    write_baseline,
)
from quantbench.judge.compare import Comparison, check_compatible, compare, what_moved
from quantbench.judge.quality import quality_rows
from quantbench.judge.host import host_note
from quantbench.judge.inputs import locate, lost_methods, nothing_judged, unbaselined_metrics, update_guard
from quantbench.session import Session

EXIT_OK, EXIT_REGRESSION, EXIT_BAD_BASELINE = exits.OK, exits.REGRESSION, exits.USAGE


def _command() -> str:
    return " ".join(shlex.quote(a) for a in ["pytest", *sys.argv[1:]])


def update(session: Session, settings: Settings, exitstatus: int) -> tuple[list[str], int]:
    """Write the session as this GPU's baseline; refuse when the session itself failed."""
    path = baseline_path(settings.baseline_dir, session.gpu, session.model_source)
    if exitstatus != 0:
        return [f"baseline not updated: the session failed (exit {exitstatus}); {path} is unchanged"], exitstatus
    if not session.results:
        return [f"baseline not updated: no results in this session; {path} is unchanged"], EXIT_BAD_BASELINE
    baseline = baseline_from_results(
        session.results, gpu=session.gpu, model_source=session.model_source,
        scenario=session.scenario, environment=session.environment,
        provenance={"kind": "measured", "command": _command(),
                    "note": "written by quantbench --qb-update-baseline"},
    )
    try:
        kept = write_baseline(path, baseline, update_guard(baseline, path))
    except BaselineError as exc:
        return [f"quantbench: baseline not updated: {exc}"], EXIT_BAD_BASELINE
    except OSError as exc:
        return [f"baseline not updated: cannot write {path}: {describe(exc)}"], EXIT_BAD_BASELINE
    lines = [f"baseline written: {path}"]
    lines.append(f"previous baseline kept as {kept}" if kept else "no previous baseline (or identical)")
    return lines, EXIT_OK


def against_baseline(session: Session, settings: Settings) -> tuple[list[str], Comparison | None, int]:
    """Compare the session with the stored baseline of its GPU and model source."""
    path = baseline_path(settings.baseline_dir, session.gpu, session.model_source)
    problem = locate(path, gpu=session.gpu, source=session.model_source,
                     allow_missing=settings.allow_missing_baseline)
    if problem is not None:
        return problem[0], None, problem[1]
    try:
        baseline = load_baseline(path)
        check_compatible(baseline, gpu=session.gpu, model_source=session.model_source,
                         scenario=session.scenario)
    except BaselineError as exc:
        return [f"quantbench: baseline unusable: {exc}"], None, EXIT_BAD_BASELINE
    comparison = compare(baseline, session.results, settings, skipped=session.skipped)
    comparison = lost_methods(comparison, session.skipped, session.failures)
    comparison = replace(comparison, notes=comparison.notes
                         + tuple(unbaselined_metrics(baseline, session.results)))
    lines = [f"compared with {path} ({baseline.provenance.get('kind', '?')}, "
             f"{baseline.environment.get('date', 'undated')})"]
    note = host_note(baseline.environment.get("launch_overhead_us"),
                     session.environment.get("launch_overhead_us"))
    lines += [note] if note else []
    empty = nothing_judged(comparison, session.results, settings.allow_missing_baseline)
    if empty is not None:
        return lines + empty[0], None, empty[1]
    return lines, comparison, EXIT_OK


@dataclass(frozen=True)
class Verdict:
    """Everything the gate decided about one session: context lines (which baseline, host,
    notes), every verdict row, the one-line outcome and the exit status."""

    lines: list[str]
    comparison: Comparison | None
    outcome: str
    code: int


def judge(session: Session, settings: Settings) -> Verdict:
    """Every verdict on ``session``: quality thresholds, and the baseline when comparing."""
    lines: list[str] = []
    comparison = Comparison(())
    if settings.compare:
        lines, compared, code = against_baseline(session, settings)
        if code != EXIT_OK:
            return Verdict(lines, None, "", code)
        comparison = compared or comparison
    rows = tuple(quality_rows(session.results, settings, synthetic=session.synthetic))
    verdicts = Comparison(comparison.rows + rows, comparison.notes, comparison.baseline_gpu,
                          comparison.baseline_source)
    if not verdicts.rows:
        return Verdict(lines, None, "", EXIT_OK)
    if verdicts.exit_ok:
        outcome = f"gate: pass ({len(verdicts.improvements)} improvement(s) beyond tolerance)"
        return Verdict(lines, verdicts, outcome, EXIT_OK)
    names = sorted({f"{r.case_key} {r.method} {r.metric}" for r in verdicts.regressions})
    outcome = f"gate: FAIL, {len(names)} regression(s) or quality failure(s): " + "; ".join(names)
    return Verdict(lines + what_moved(verdicts.rows), verdicts, outcome, EXIT_REGRESSION)


def run(session: Session, settings: Settings, exitstatus: int) -> tuple[Verdict, list[str]]:
    """Judge, and update the baseline when the settings ask and the session passed; returns the
    verdict and the update's lines."""
    verdict = judge(session, settings)
    if not settings.update_baseline:
        return verdict, []
    if verdict.code != EXIT_OK:
        path = baseline_path(settings.baseline_dir, session.gpu, session.model_source)
        why = (f"the session failed the gate ({len(verdict.comparison.regressions)} regression(s) or "
               "quality failure(s))" if verdict.code == EXIT_REGRESSION and verdict.comparison
               else f"the comparison with the stored baseline was unusable (exit {verdict.code})")
        return verdict, [f"baseline not updated: {why}; {path} is unchanged"]
    lines, code = update(session, settings, exitstatus)
    return Verdict(verdict.lines, verdict.comparison, verdict.outcome, code), lines
