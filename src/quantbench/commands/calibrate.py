"""``python -m quantbench calibrate``: make a baseline from several saved sessions.

The statistics (median of session medians, the prediction interval for one more session, the
window of sessions) live in ``store.calibrate``; this is the command around them: reading and
checking the session files, the exclusions, and writing the baseline.

    python -m quantbench calibrate .quantbench/run1/session.json .quantbench/run2/session.json ...
"""

from __future__ import annotations

import fnmatch
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from quantbench import exits
from quantbench.catalog import SPECS, spec
from quantbench.files import describe
from quantbench.store.baseline import BaselineError, baseline_from_results, baseline_path, write_baseline
from quantbench.store.calibrate import merge_sessions
from quantbench.store.calibrate_checks import no_shrink, probe_spread, refuse_duplicates, slow_sessions
from quantbench.config import session_difference
from quantbench.store.window import entry
from quantbench.results import CaseResult
from quantbench.session import Session, SessionError
from quantbench.validate import did_you_mean


def read_session(path: Path) -> Session:
    """A ``session.json`` written by a quantbench session; ``BaselineError`` if unusable."""
    try:
        return Session.read(path)
    except SessionError as exc:
        raise BaselineError(str(exc)) from None


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


def _check_same(sessions: Sequence[Session], paths: Sequence[Path]) -> None:
    first = sessions[0]
    for session, path in zip(sessions[1:], paths[1:]):
        found = session_difference(session, first)
        if found and found[0] == "scenario":
            raise BaselineError(f"{path}: scenario differs from {paths[0]}'s in {', '.join(found[1])}")
        if found:
            raise BaselineError(f"{path}: {found[0]} {found[1]!r} differs from {paths[0]}'s {found[2]!r}")


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
    for where, session in zip(args.sessions, sessions):  # the failed method's cases come from the others
        if session.failures:
            print(f"failed in {where}, its other cases used: " + "; ".join(session.failures.values()))
    count = f"{len(sessions)} session" + ("s" if len(sessions) != 1 else "")
    print(f"baseline written: {path} from {count}"
          + (f"; previous kept as {kept}" if kept else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
