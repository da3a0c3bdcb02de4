"""The gate: judge a session record and say which exit status it deserves.

One verdict list: quality thresholds always (a method whose outputs broke fails the session
like a slowdown does), plus, with ``--benchmark-compare``, every metric against the stored
baseline of this GPU and model; or, with ``--qb-update-baseline``, add the session to that
baseline's window of sessions (``store.window``). The same function judges a live session and a saved ``session.json``
(``python -m quantbench compare``).

Exit statuses: 0 pass, 1 a regression or a quality failure, 4 a baseline that cannot be used
(corrupt, wrong schema, another GPU or model, a scenario that differs) or a comparison that
judged nothing (no baseline for this GPU yet, which says how to make one, is a pass only when
allowed: ``judge.inputs``). The stored file is only ever read here, except by
an explicit update, which writes atomically and keeps the previous file in ``history/``.
What the gate found is data (``judge.findings``); ``report.gate_lines`` says it.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Union

from quantbench import exits
from quantbench.config import Settings, scenario_matching
from quantbench.files import describe
from quantbench.store.baseline import (
    Baseline,
    BaselineError,
    baseline_path,
    from_json,
    load_baseline,
    write_baseline,
)
from quantbench.store.calibrate import add_session
from quantbench.judge.compare import Comparison, compare
from quantbench.judge.findings import Compared, Problem, Refusal, Refused, Unjudged, Untakeable, Update
from quantbench.judge.host_note import host_difference
from quantbench.judge.inputs import locate, lost_methods, lost_metrics, nothing_judged, unbaselined_metrics
from quantbench.judge.quality import quality_rows
from quantbench.session import Session
from quantbench.store.compatible import check_compatible


def _command() -> str:
    return " ".join(shlex.quote(a) for a in ["pytest", *sys.argv[1:]])


def update(session: Session, settings: Settings, exitstatus: int) -> Update:
    """Add the session to this GPU's baseline (its window of sessions, ``store.window``), or
    start one; refuse when the session itself failed, or, leaving it untouched, when the stored
    file cannot be read or is of another GPU, model or scenario."""
    path = baseline_path(settings.baseline_dir, session.gpu, session.model_source)
    if exitstatus != 0:
        return Update(path, exitstatus, Refusal(Refused.SESSION_FAILED, path, number=exitstatus))
    if not session.results:
        return Update(path, exits.USAGE, Refusal(Refused.NO_RESULTS, path))
    provenance = {"kind": "measured", "command": _command(),
                  "note": "written by quantbench --qb-update-baseline"}
    restarted: list[int] = []
    sessions: list[int] = []

    def build(stored: bytes | None) -> Baseline:
        old = None
        if stored is not None:
            old = _stored_for(path, stored, gpu=session.gpu, model_source=session.model_source,
                              scenario=session.scenario)
            if not old.sessions:
                restarted.append(old.session_count)
        new = add_session(old, session, provenance)
        sessions.append(len(new.sessions))
        return new

    try:
        kept = write_baseline(path, build)
    except Untakeable as exc:
        return Update(path, exits.USAGE, exc.refusal)
    except BaselineError as exc:
        return Update(path, exits.USAGE, Refusal(Refused.INVALID, path, str(exc)))
    except OSError as exc:
        return Update(path, exits.USAGE, Refusal(Refused.CANNOT_WRITE, path, describe(exc)))
    return Update(path, exits.OK, None, sessions[-1], restarted[-1] if restarted else None, kept)


def usable_baseline(settings: Settings, *, gpu: str, model_source: str,
                    scenario: dict) -> Baseline | Unjudged:
    """The stored baseline of this GPU and model when it can judge a run of ``scenario``; else
    why not, with its exit status: no baseline (exit 4 unless allowed), one that cannot be read
    or is of another schema, GPU, model or scenario (exit 4, naming a ``--qb-scenario`` it
    matches)."""
    path = baseline_path(settings.baseline_dir, gpu, model_source)
    problem = locate(path, gpu=gpu, source=model_source, allow_missing=settings.allow_missing_baseline)
    if problem is not None:
        return problem
    try:
        baseline = load_baseline(path)
    except BaselineError as exc:
        return Unjudged(Problem.UNUSABLE, exits.USAGE, path, detail=str(exc))
    try:
        check_compatible(baseline, gpu=gpu, model_source=model_source, scenario=scenario)
    except BaselineError as exc:
        name = scenario_matching(baseline.scenario)  # a named scenario the run did not use
        used = name in (None, scenario.get("name"))
        return Unjudged(Problem.UNUSABLE, exits.USAGE, path, detail=str(exc),
                        scenario=None if used else name)
    return baseline


def refusal(settings: Settings, *, gpu: str, model_source: str,
            scenario: dict) -> Union[Unjudged, Refusal, None]:
    """Why this session must not start, checked before any model loads (a run
    that measures for minutes before its baseline is refused is wasted GPU time): under ``--benchmark-compare`` a baseline
    that ``usable_baseline`` refuses; under ``--qb-update-baseline`` a stored file the update would
    refuse (unreadable, another schema, GPU, model or scenario). ``None`` when it may start; a
    baseline that does not exist yet is left to the session's end, whose record can make one."""
    path = baseline_path(settings.baseline_dir, gpu, model_source)
    if settings.compare and not _missing(path):
        found = usable_baseline(settings, gpu=gpu, model_source=model_source, scenario=scenario)
        if isinstance(found, Unjudged) and found.code != exits.OK:
            return found
    if settings.update_baseline:
        try:
            stored = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return Refusal(Refused.CANNOT_READ, path, describe(exc))
        try:
            _stored_for(path, stored, gpu=gpu, model_source=model_source, scenario=scenario)
        except Untakeable as exc:
            return exc.refusal
    return None


def _missing(path: Path) -> bool:
    try:
        path.stat()
    except FileNotFoundError:
        return True
    except OSError:
        return False  # a folder that is a file, say: ``locate`` names it
    return False


def _stored_for(path: Path, stored: bytes, *, gpu: str, model_source: str,
                scenario: dict) -> Baseline:
    """The stored baseline an update adds to; ``Untakeable`` when it cannot be read or is of
    another GPU, model or scenario."""
    try:
        old = from_json(stored.decode("utf-8"))
    except (BaselineError, UnicodeDecodeError) as exc:
        raise Untakeable(Refusal(Refused.UNREADABLE, path, str(exc))) from None
    try:
        check_compatible(old, gpu=gpu, model_source=model_source, scenario=scenario)
    except BaselineError as exc:
        raise Untakeable(Refusal(Refused.INCOMPATIBLE, path, str(exc))) from None
    return old


def against_baseline(session: Session, settings: Settings
                     ) -> tuple[Compared | None, Comparison | None, Unjudged | None]:
    """Compare the session with the stored baseline of its GPU and model source: which baseline
    judged (``None``: none could), the comparison (``None`` when nothing was compared), and why
    nothing was compared (``None`` when something was)."""
    path = baseline_path(settings.baseline_dir, session.gpu, session.model_source)
    baseline = usable_baseline(settings, gpu=session.gpu, model_source=session.model_source,
                               scenario=session.scenario)
    if isinstance(baseline, Unjudged):
        return None, None, baseline
    comparison = compare(baseline, session.results, settings, skipped=session.skipped)
    comparison = lost_methods(comparison, session.skipped, session.failures)
    comparison = lost_metrics(comparison, session.results)
    comparison = replace(comparison, notes=comparison.notes
                         + tuple(unbaselined_metrics(baseline, session.results)))
    host = host_difference(baseline.environment.get("launch_overhead_us"),
                           session.environment.get("launch_overhead_us"))
    compared = Compared(path, baseline.provenance.get("kind", "?"),
                        baseline.environment.get("date", "undated"), host)
    empty = nothing_judged(comparison, session.results, settings.allow_missing_baseline)
    if empty is not None:
        return compared, None, empty
    return compared, comparison, None


@dataclass(frozen=True)
class Verdict:
    """Everything the gate decided about one session: which baseline judged, every verdict row,
    the exit status, why no baseline judged anything (``unjudged``; ``compare_asked`` false:
    none was asked for) and, once ``run`` updated the baseline, what the update did."""

    comparison: Comparison | None
    code: int
    compared: Compared | None = None
    unjudged: Unjudged | None = None
    compare_asked: bool = True
    update: Update | None = None


def judge_session(session: Session, settings: Settings) -> Verdict:
    """Every verdict on ``session``: quality thresholds, and the baseline when comparing."""
    comparison = Comparison(())
    compared = unjudged = None
    if settings.compare:
        compared, found, unjudged = against_baseline(session, settings)
        if unjudged is not None and unjudged.code != exits.OK:
            return Verdict(None, unjudged.code, compared, unjudged)
        comparison = found or comparison
    rows = tuple(quality_rows(session.results, settings, synthetic=session.synthetic))
    verdicts = Comparison(comparison.rows + rows, comparison.notes, comparison.baseline_gpu,
                          comparison.baseline_source)
    if not verdicts.rows:
        return Verdict(None, exits.OK, compared, unjudged, settings.compare)
    code = exits.OK if verdicts.exit_ok else exits.REGRESSION
    return Verdict(verdicts, code, compared, unjudged, settings.compare)


def run(session: Session, settings: Settings, exitstatus: int) -> tuple[Verdict, Update | None]:
    """Judge, and update the baseline when the settings ask and the session passed; returns the
    verdict (with the update's exit status once it ran) and what the update did."""
    verdict = judge_session(session, settings)
    if not settings.update_baseline:
        return verdict, None
    if verdict.code != exits.OK:
        path = baseline_path(settings.baseline_dir, session.gpu, session.model_source)
        if verdict.code == exits.REGRESSION and verdict.comparison:
            why = Refusal(Refused.GATE_FAILED, path, number=len(verdict.comparison.regressions))
        else:
            why = Refusal(Refused.GATE_UNUSABLE, path, number=verdict.code)
        return verdict, Update(path, verdict.code, why)
    done = update(session, settings, exitstatus)
    return replace(verdict, code=done.code, update=done), done
