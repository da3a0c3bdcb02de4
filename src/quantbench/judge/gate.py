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
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path

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
from quantbench.judge.compare import FAIL, REGRESSION, UNCONFIRMED, Comparison, check_compatible, compare
from quantbench.judge.evidence import MIN_WALL_SESSIONS
from quantbench.judge.quality import quality_rows
from quantbench.judge.host_note import host_note
from quantbench.judge.inputs import (Unjudged, locate, lost_methods, lost_metrics, nothing_judged,
                                     unbaselined_metrics, unjudged)
from quantbench.results import WIDTH
from quantbench.session import Session


def _command() -> str:
    return " ".join(shlex.quote(a) for a in ["pytest", *sys.argv[1:]])


def update(session: Session, settings: Settings, exitstatus: int) -> tuple[list[str], int]:
    """Add the session to this GPU's baseline (its window of sessions, ``store.window``), or
    start one; refuse when the session itself failed, or, in one line and leaving it untouched,
    when the stored file cannot be read or is of another GPU, model or scenario."""
    path = baseline_path(settings.baseline_dir, session.gpu, session.model_source)
    if exitstatus != 0:
        return [f"baseline not updated: the session failed (exit {exitstatus}); {path} is unchanged"], exitstatus
    if not session.results:
        return [f"baseline not updated: no results in this session; {path} is unchanged"], exits.USAGE
    said: list[str] = []
    provenance = {"kind": "measured", "command": _command(),
                  "note": "written by quantbench --qb-update-baseline"}

    def build(stored: bytes | None) -> Baseline:
        old = None
        if stored is not None:
            old = _stored_for(path, stored, gpu=session.gpu, model_source=session.model_source,
                              scenario=session.scenario)
            if not old.sessions:
                said.append(f"{path} kept no window of sessions (schema /1, {old.session_count} "
                            "session(s)): a window starts with this one")
        new = add_session(old, session, provenance)
        said.append(f"baseline window: {len(new.sessions)} session(s)"
                    + ("" if len(new.sessions) >= MIN_WALL_SESSIONS else
                       f"; wall-clock rows gate from {MIN_WALL_SESSIONS}"))
        return new

    try:
        kept = write_baseline(path, build)
    except BaselineError as exc:
        return [f"quantbench: baseline not updated: {exc}"], exits.USAGE
    except OSError as exc:
        return [f"baseline not updated: cannot write {path}: {describe(exc)}"], exits.USAGE
    lines = [f"baseline written: {path}", *said]
    lines.append(f"previous baseline kept as {kept}" if kept else "no previous baseline (or identical)")
    return lines, exits.OK


def usable_baseline(settings: Settings, *, gpu: str, model_source: str,
                    scenario: dict) -> Baseline | Unjudged:
    """The stored baseline of this GPU and model when it can judge a run of ``scenario``; else
    why not, with the gate's lines and exit status: no baseline (exit 4 unless allowed), one that
    cannot be read or is of another schema, GPU, model or scenario (exit 4, naming a
    ``--qb-scenario`` it matches)."""
    path = baseline_path(settings.baseline_dir, gpu, model_source)
    problem = locate(path, gpu=gpu, source=model_source, allow_missing=settings.allow_missing_baseline)
    if problem is not None:
        return problem
    try:
        baseline = load_baseline(path)
    except BaselineError as exc:
        return unjudged(f"baseline unusable: {exc}", exits.USAGE)
    try:
        check_compatible(baseline, gpu=gpu, model_source=model_source, scenario=scenario)
    except BaselineError as exc:
        name = scenario_matching(baseline.scenario)  # a named scenario the run did not use
        used = name in (None, scenario.get("name"))
        hint = "" if used else f" (it matches --qb-scenario {name})"
        return unjudged(f"baseline unusable: {exc}{hint}", exits.USAGE)
    return baseline


def refusal(settings: Settings, *, gpu: str, model_source: str, scenario: dict) -> str | None:
    """Why this session must not start, checked before any model loads (a wasted run on an H100
    measured 185 s before the gate refused its baseline): under ``--benchmark-compare`` a baseline
    that ``usable_baseline`` refuses; under ``--qb-update-baseline`` a stored file the update would
    refuse (unreadable, another schema, GPU, model or scenario). ``None`` when it may start; a
    baseline that does not exist yet is left to the session's end, whose record can make one."""
    path = baseline_path(settings.baseline_dir, gpu, model_source)
    if settings.compare and not _missing(path):
        found = usable_baseline(settings, gpu=gpu, model_source=model_source, scenario=scenario)
        if isinstance(found, Unjudged) and found.code != exits.OK:
            return found.why
    if settings.update_baseline:
        try:
            stored = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"baseline not updated: cannot read {path}: {describe(exc)}"
        try:
            _stored_for(path, stored, gpu=gpu, model_source=model_source, scenario=scenario)
        except BaselineError as exc:
            return f"baseline not updated: {exc}"
    return None


def _missing(path: Path) -> bool:
    try:
        path.stat()
    except FileNotFoundError:
        return True
    except OSError:
        return False  # a folder that is a file, say: ``locate`` names it
    return False


def _stored_for(path: object, stored: bytes, *, gpu: str, model_source: str,
                scenario: dict) -> Baseline:
    """The stored baseline an update adds to; ``BaselineError`` (one line naming ``path``) when it
    cannot be read or is of another GPU, model or scenario."""
    try:
        old = from_json(stored.decode("utf-8"))
    except (BaselineError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path} is unreadable ({exc}): move it away to start afresh") from None
    try:
        check_compatible(old, gpu=gpu, model_source=model_source, scenario=scenario)
    except BaselineError as exc:
        raise BaselineError(f"{path} cannot take this session: {exc}; move it away to start "
                            "afresh, or make one with python -m quantbench calibrate") from None
    return old


def against_baseline(session: Session, settings: Settings) -> tuple[list[str], Comparison | None, int, str]:
    """Compare the session with the stored baseline of its GPU and model source: the gate's
    lines, the comparison (``None`` when nothing was compared), the exit status, and why nothing
    was compared (``""`` when something was)."""
    path = baseline_path(settings.baseline_dir, session.gpu, session.model_source)
    baseline = usable_baseline(settings, gpu=session.gpu, model_source=session.model_source,
                               scenario=session.scenario)
    if isinstance(baseline, Unjudged):
        return baseline.lines, None, baseline.code, baseline.why
    comparison = compare(baseline, session.results, settings, skipped=session.skipped)
    comparison = lost_methods(comparison, session.skipped, session.failures)
    comparison = lost_metrics(comparison, session.results)
    comparison = replace(comparison, notes=comparison.notes
                         + tuple(unbaselined_metrics(baseline, session.results)))
    kind, date = baseline.provenance.get("kind", "?"), baseline.environment.get("date", "undated")
    lines = [f"compared with {path} ({kind}, {date})"]
    if len(lines[0]) > WIDTH:  # a long baseline folder: the path on a line of its own
        lines = [f"compared with the {kind} baseline ({date}):", f"  {path}"]
    note = host_note(baseline.environment.get("launch_overhead_us"),
                     session.environment.get("launch_overhead_us"))
    lines += [note] if note else []
    empty = nothing_judged(comparison, session.results, settings.allow_missing_baseline)
    if empty is not None:
        return lines + empty.lines, None, empty.code, empty.why
    return lines, comparison, exits.OK, ""


@dataclass(frozen=True)
class Verdict:
    """Everything the gate decided about one session: context lines (which baseline, host,
    notes), every verdict row, the one-line outcome and the exit status."""

    lines: list[str]
    comparison: Comparison | None
    outcome: str
    code: int
    not_compared: str = ""  # why no baseline judged anything ("" when one did)
    cause: str = ""  # why ``code`` is 4, in one line ("" otherwise)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def outcome(verdicts: Comparison) -> str:
    """The gate's last line, short: FAIL with the methods that failed and how many rows, or pass;
    both count what is worth a look (improvements, unconfirmed wall-clock moves)."""
    rows = verdicts.rows
    n_unconfirmed = sum(r.verdict == UNCONFIRMED for r in rows)
    n_improved = len(verdicts.improvements)
    extra = [f"{n_unconfirmed} unconfirmed, not failing"] if n_unconfirmed else []
    extra += [f"{_count(n_improved, 'improvement')} beyond tolerance"] if n_improved else []
    if verdicts.exit_ok:
        return "gate: pass" + (f" ({'; '.join(extra)})" if extra else "")
    methods = ", ".join(dict.fromkeys(r.method for r in verdicts.regressions))
    counts = [_count(sum(r.verdict == REGRESSION for r in rows), "regression"),
              _count(sum(r.verdict == FAIL for r in rows), "quality failure")]
    counts = [c for c in counts if not c.startswith("0 ")]
    return f"gate: FAIL: {methods} ({'; '.join([', '.join(counts), *extra])})"


def judge_session(session: Session, settings: Settings) -> Verdict:
    """Every verdict on ``session``: quality thresholds, and the baseline when comparing."""
    lines: list[str] = []
    comparison = Comparison(())
    not_compared = "--benchmark-compare was not given: quality thresholds only"
    if settings.compare:
        lines, compared, code, why = against_baseline(session, settings)
        if code != exits.OK:
            cause = ("nothing compared: this GPU and model have no baseline yet"
                     if why.startswith("no baseline for ") else why)  # the line above has the path
            return Verdict(lines, None, "", code, why, cause=cause)
        comparison = compared or comparison
        not_compared = why
    rows = tuple(quality_rows(session.results, settings, synthetic=session.synthetic))
    verdicts = Comparison(comparison.rows + rows, comparison.notes, comparison.baseline_gpu,
                          comparison.baseline_source)
    if not verdicts.rows:
        return Verdict(lines, None, "", exits.OK, not_compared)
    code = exits.OK if verdicts.exit_ok else exits.REGRESSION
    return Verdict(lines, verdicts, outcome(verdicts), code, not_compared)


def run(session: Session, settings: Settings, exitstatus: int) -> tuple[Verdict, list[str]]:
    """Judge, and update the baseline when the settings ask and the session passed; returns the
    verdict and the update's lines."""
    verdict = judge_session(session, settings)
    if not settings.update_baseline:
        return verdict, []
    if verdict.code != exits.OK:
        path = baseline_path(settings.baseline_dir, session.gpu, session.model_source)
        why = (f"the session failed the gate ({len(verdict.comparison.regressions)} regression(s) or "
               "quality failure(s))" if verdict.code == exits.REGRESSION and verdict.comparison
               else f"the comparison with the stored baseline was unusable (exit {verdict.code})")
        return verdict, [f"baseline not updated: {why}; {path} is unchanged"]
    lines, code = update(session, settings, exitstatus)
    cause = lines[0].removeprefix("quantbench: ") if code != exits.OK else verdict.cause
    return replace(verdict, code=code, cause=cause), lines
