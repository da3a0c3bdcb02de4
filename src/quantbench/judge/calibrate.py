"""Make a baseline from several sessions, so the gate knows the run-to-run noise.

One session's interval says how steady the numbers were *within* that session; on lent H100s
eager batch-1 figures moved 19-40 % *between* sessions. Merging repeated sessions records that
spread: each metric's median is the median of the k sessions' medians, and its interval is the
95 % prediction interval for one more session, median ± t(k-1) × s × sqrt(1 + 1/k), with s the
standard deviation of the session medians and t(k-1) Student's 97.5 % quantile (12.7 for two
sessions, 4.3 for three, 2.8 for five): with s estimated from a handful of sessions, 1.96 × s
would understate the noise. The interval is widened to span every session's own interval.
The gate reads a baseline's standard error as half the width / 1.96, so its z-test then asks
whether a new session lies outside that prediction interval, not outside one session's interval.

    python -m quantbench calibrate .quantbench/run1/session.json .quantbench/run2/session.json ...
"""

from __future__ import annotations

import fnmatch
import functools
import math
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from quantbench import exits
from quantbench.judge.baseline import (Baseline, BaselineError, baseline_from_results, baseline_path,
                                       write_baseline)
from quantbench.judge.compare import SCENARIO_FIELDS
from quantbench.judge.window import WINDOW, entry
from quantbench.judge.calibrate_checks import no_shrink, probe_spread, refuse_duplicates, slow_sessions
from quantbench.catalog import SPECS, spec
from quantbench.files import describe
from quantbench.validate import did_you_mean


@functools.lru_cache(maxsize=None)
def t_quantile(p: float, df: int) -> float:
    """Student's t ``p`` quantile for ``df`` degrees of freedom (df >= 1), from scipy."""
    from scipy.stats import t

    return float(t.ppf(p, df))


def t975(df: int) -> float:
    """Student's t 97.5 % quantile for ``df`` degrees of freedom (df >= 1)."""
    return t_quantile(0.975, df)


def prediction_halfwidth(medians: Sequence[float]) -> float:
    """Half-width of the 95 % prediction interval for one more session's median."""
    k = len(medians)
    if k < 2:
        return 0.0
    return t975(k - 1) * statistics.stdev(medians) * math.sqrt(1 + 1 / k)
from quantbench.results import CaseResult, Metric
from quantbench.session import Session, SessionError


def read_session(path: Path) -> Session:
    """A ``session.json`` written by a quantbench session; ``BaselineError`` if unusable."""
    try:
        return Session.read(path)
    except SessionError as exc:
        raise BaselineError(str(exc)) from None


def merge_metric(samples: Sequence[Metric]) -> Metric:
    """One metric over sessions: median of medians; interval over all intervals and medians."""
    first = samples[0]
    medians = [m.median for m in samples]
    center = statistics.median(medians)
    spread = prediction_halfwidth(medians)
    low = min(min(m.low for m in samples), min(medians), center - spread)
    high = max(max(m.high for m in samples), max(medians), center + spread)
    cvs = [m.cv for m in samples if m.cv is not None]
    stop = first.stop if all(m.stop == "exact" for m in samples) and low == high else "sessions"
    return Metric(first.name, first.unit, center, low, high,
                  sum(m.n for m in samples), first.higher_is_better,
                  max(cvs) if cvs else None, stop, first.approximate)


def without(session: Session, drop: Any) -> Session:
    """The session without the metrics ``drop(name)`` rejects (readings not to be trusted)."""
    results = [CaseResult(r.scenario, r.mode, r.case, r.method, r.dtype,
                          {n: m for n, m in r.metrics.items() if not drop(n)}, r.notes)
               for r in session.results]
    return replace(session, results=results)


def excluded(path: Path, result: CaseResult, patterns: Sequence[str]) -> bool:
    """Whether ``result`` of the session at ``path`` matches one of ``--exclude-result``'s
    patterns: ``mode/case/method`` for every session, or ``SESSION:mode/case/method`` for
    sessions whose path matches ``SESSION`` (shell-style wildcards in both)."""
    key = f"{result.mode}/{result.case}/{result.method}"
    for pattern in patterns:
        where, _, what = pattern.rpartition(":")
        if fnmatch.fnmatchcase(key, what) and (not where or fnmatch.fnmatchcase(str(path), where)):
            return True
    return False


def drop_results(session: Session, path: Path, patterns: Sequence[str]) -> Session:
    """The session without the case results ``--exclude-result`` names (runs of a regime the
    baseline must not describe, such as a method measured before a fix)."""
    return replace(session, results=[r for r in session.results
                                     if not excluded(path, r, patterns)])


def is_memory(name: str) -> bool:
    return spec(name).kind == "memory"


def merge_sessions(sessions: Sequence[Session] | Sequence[Sequence[CaseResult]], min_sessions: int = 1,
                   left_out: dict[str, list[str]] | None = None) -> list[CaseResult]:
    """Case results for every case any session ran, each metric merged over the sessions that
    measured it (a session may have run a subset, for example only batch 1). A sampled metric
    seen in fewer than ``min_sessions`` sessions is left out (named in ``left_out`` under
    ``"mode/case method"``): its
    interval would hold one session's own noise only, and a gate on it cries wolf at the next
    lease. Exact metrics (weights, memory) need one session."""
    keyed = [{(r.case_key, r.method): r for r in getattr(s, "results", s)} for s in sessions]
    merged: dict[tuple[str, str], CaseResult] = {}
    for table in keyed:
        for key, result in table.items():
            if key in merged:
                continue
            others = [k[key] for k in keyed if key in k]
            metrics = {}
            for name in dict.fromkeys(n for o in others for n in o.metrics):
                samples = [o.metrics[name] for o in others if name in o.metrics]
                if len(samples) < min_sessions and any(m.stop != "exact" for m in samples):
                    if left_out is not None:
                        left_out.setdefault(f"{key[0]} {key[1]}", []).append(name)
                    continue
                metrics[name] = merge_metric(samples)
            if metrics:
                merged[key] = CaseResult(result.scenario, result.mode, result.case, result.method,
                                         result.dtype, metrics, result.notes)
    return list(merged.values())


def add_session(old: Baseline | None, session: Session, provenance: dict[str, Any],
                size: int = WINDOW) -> Baseline:
    """``old`` with ``session`` added to its window (the oldest leaving past ``size``), every
    figure merged anew over the window; ``old`` of ``None`` (or of no window: a /1 file) starts
    a window with this session alone. The newest session enters with its own intervals."""
    entries = (*(old.sessions if old else ()), entry(session.environment, session.results))[-size:]
    like = {(r.case_key, r.method): r for r in session.results}
    older = [e.as_results(like) for e in entries[:-1]]
    results = merge_sessions([*older, session.results])
    env = {**session.environment, "sessions": [e.date for e in entries]}
    return baseline_from_results(results, gpu=session.gpu, model_source=session.model_source,
                                 scenario=session.scenario, environment=env,
                                 provenance={**provenance, "sessions": len(entries)},
                                 sessions=entries)


def _check_same(sessions: Sequence[Session], paths: Sequence[Path]) -> None:
    first = sessions[0]
    for session, path in zip(sessions[1:], paths[1:]):
        for what in ("gpu", "model_source"):
            if getattr(session, what) != getattr(first, what):
                raise BaselineError(f"{path}: {what} {getattr(session, what)!r} differs from "
                                    f"{paths[0]}'s {getattr(first, what)!r}")
        differs = [k for k in SCENARIO_FIELDS
                   if session.scenario.get(k) != first.scenario.get(k)]  # as the gate compares
        if differs:
            raise BaselineError(f"{path}: scenario differs from {paths[0]}'s in {', '.join(differs)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = exits.ArgumentParser(prog="python -m quantbench calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("sessions", nargs="+", type=Path, help="session.json files of repeated runs")
    parser.add_argument("--baseline-dir", type=Path, default=Path("baselines"))
    parser.add_argument("--memory-from", type=Path, action="append", default=[],
                        help="take memory metrics only from these sessions (others' are dropped)")
    parser.add_argument("--exclude-metric", action="append", default=[], metavar="NAME",
                        help="leave this metric out of the baseline (for example a misleading count)")
    parser.add_argument("--min-sessions", type=int, default=2, metavar="K",
                        help="leave out sampled metrics measured in fewer than K sessions (default 2)")
    parser.add_argument("--exclude-result", action="append", default=[], metavar="[SESSION:]MODE/CASE/METHOD",
                        help="leave these case results out (wildcards allowed), from every session "
                             "or from the sessions whose path matches SESSION")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing baseline even when the new one lacks some of its metrics")
    args = parser.parse_args(argv)
    if args.min_sessions < 1:
        parser.error(f"--min-sessions must be at least 1, not {args.min_sessions}")
    for name in args.exclude_metric:
        if name not in SPECS:
            parser.error(f"--exclude-metric {name}: unknown metric{did_you_mean(name, SPECS)}")
    dropped: list[str] = []
    try:
        refuse_duplicates(args.sessions)
        sessions = [read_session(p) for p in args.sessions]
        _check_same(sessions, args.sessions)
        unknown = [p for p in args.memory_from if p not in args.sessions]
        if unknown:
            raise BaselineError(f"--memory-from {unknown[0]} is not one of the sessions given")
        if args.memory_from:
            sessions = [s if p in args.memory_from else without(s, is_memory)
                        for s, p in zip(sessions, args.sessions)]
        if args.exclude_result:
            sessions = [drop_results(s, p, args.exclude_result)
                        for s, p in zip(sessions, args.sessions)]
        if args.exclude_metric:
            sessions = [without(s, lambda n: n in args.exclude_metric) for s in sessions]
        env = dict(sessions[0].environment)
        left_out: dict[str, list[str]] = {}
        results = merge_sessions(sessions, args.min_sessions, left_out)
        if not results:
            raise BaselineError("the sessions hold no results")
        env["sessions"] = [s.environment.get("date") for s in sessions]
        probes = [s.environment["launch_overhead_us"] for s in sessions
                  if s.environment.get("launch_overhead_us")]
        env["launch_overhead_us"] = statistics.median(probes) if probes else None
        baseline = baseline_from_results(
            results, gpu=env["gpu"], model_source=env["model_source"],
            scenario=sessions[0].scenario, environment=env,
            provenance={"kind": "measured", "sessions": len(sessions),
                        "command": "python -m quantbench calibrate " + " ".join(
                            [*map(str, args.sessions),
                             *(f"--memory-from {p}" for p in args.memory_from),
                             *(f"--exclude-metric {n}" for n in args.exclude_metric),
                             *(f"--exclude-result '{r}'" for r in args.exclude_result),
                             *([f"--min-sessions {args.min_sessions}"] if args.min_sessions != 2 else [])]),
                        "note": "median of session medians; interval: 95 % prediction interval for one more session"},
            sessions=tuple(entry(s.environment, s.results) for s in sessions))
        path = baseline_path(args.baseline_dir, env["gpu"], env["model_source"])
        kept = write_baseline(path, baseline, no_shrink(baseline, path, args.force, dropped))
    except BaselineError as exc:
        print(f"quantbench calibrate: {exc}", file=sys.stderr)
        return exits.USAGE
    except OSError as exc:
        print(f"quantbench calibrate: cannot write the baseline: {describe(exc)}", file=sys.stderr)
        return exits.USAGE
    for line in [*slow_sessions(sessions, args.sessions), probe_spread(sessions, args.sessions)]:
        if line:
            print(line)
    if dropped:
        print(f"dropped {len(dropped)} metric(s) of the previous baseline (--force): {', '.join(dropped)}")
    for case, names in left_out.items():
        print(f"left out, measured in fewer than {args.min_sessions} sessions: {case}: {', '.join(names)}")
    partial = [str(p) for p, s in zip(args.sessions, sessions) if s.partial]
    if partial:
        print("partial (cut-off) sessions, their finished cases used: " + ", ".join(partial))
    print(f"baseline written: {path} from {len(sessions)} sessions"
          + (f"; previous kept as {kept}" if kept else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
