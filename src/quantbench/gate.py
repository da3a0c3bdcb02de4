"""What happens when a session ends: tables, where the time went, the session file, and the
baseline gate (compare, or update) with its exit status.

Kept apart from the pytest hooks so it can be tested with a plain harness-like object.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from quantbench.results import CaseResult
from quantbench.settings import Settings
from quantbench.tables import render, session_tables

EXIT_INTERRUPTED = 2  # pytest.ExitCode.INTERRUPTED: SIGINT or Ctrl-C; later cases never ran
EXIT_UNWRITTEN = 4  # the session file could not be written (as for an unusable baseline)


def time_breakdown(harness: Any) -> tuple[list[str], dict[str, Any]]:
    """Per-method load / warm-up / measuring seconds and the share of wall time spent outside
    model work (loading excluded, since it is the libraries' cost, not the harness's)."""
    per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for entry in harness.timeline:
        per[entry.method][entry.phase] += entry.seconds
    wall = harness.wall_seconds()
    load = sum(p["load"] + p["prepare"] for p in per.values())
    work = sum(v for p in per.values() for k, v in p.items() if k not in ("load", "prepare"))
    outside = max(0.0, wall - load - work)
    share = outside / (wall - load) if wall > load else 0.0
    phases = ("prepare", "load", "warmup", "measure", "compile", "quality", "bandwidth")
    rows = [[m, *(f"{p.get(k, 0.0):.1f}" for k in phases)] for m, p in per.items()]
    header = ["Method", "prepare s", "load s", "warm-up s", "measuring s", "compile s", "quality s",
              "bandwidth s"]
    table = render(rows, header) if rows else ""
    lines = [f"session wall {wall:.1f} s; loading (incl. preparing) {load:.1f} s; model work {work:.1f} s; "
             f"outside model work {outside:.1f} s = {share * 100:.1f}% of non-loading time"]
    data = {"wall_s": wall, "load_s": load, "work_s": work, "outside_s": outside,
            "outside_share": share, "per_method": {m: dict(p) for m, p in per.items()}}
    return ([table] if table else []) + lines, data


def write_session_file(path: Path, results: list[CaseResult], environment: dict, extra: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"environment": environment, "results": [r.to_dict() for r in results], **extra}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)


def _session_env(harness: Any) -> dict[str, Any]:
    from quantbench.env import environment

    env = environment(harness.device, Path.cwd())
    env["model_source"] = harness.source.spec
    env["peak_copy_bandwidth_gbs"] = harness.peak_bandwidth_gbs
    env["launch_overhead_us"] = getattr(harness, "launch_overhead_us", None)
    return env


def write_session(harness: Any, settings: Settings, env: dict[str, Any], time_data: dict[str, Any],
                  *, partial: bool) -> None:
    """``session.json`` with every case so far; ``partial`` while the session still runs."""
    write_session_file(
        settings.report_dir / "session.json", harness.results, env,
        {"partial": partial, "scenario": settings.scenario.to_dict(),
         "loads": dict(harness.pool.loads), "load_events": harness.pool.events,
         "skipped": harness.skipped, "failures": harness.pool.failures, "time": time_data},
    )


def checkpoint_session(harness: Any, settings: Settings) -> None:
    """Rewrite the session file after a case, marked partial, so a session cut off by a CI
    time limit or a kill still leaves every case it finished (one cut-off H100 run left
    nothing: the process died before the session's end). A failed write does not stop the
    session (it was an INTERNALERROR): ``finish_session`` reports it."""
    try:
        write_session(harness, settings, _session_env(harness), time_breakdown(harness)[1], partial=True)
    except OSError:
        pass  # the end of the session writes it again, and says so if that fails too


def finish_session(harness: Any, settings: Settings, exitstatus: int) -> dict[str, Any]:
    """Print-ready lines and the exit status the gate asks for (``None``: leave pytest's).
    An interrupted session's file stays marked partial: pytest reaches its end, its cases don't."""
    results: list[CaseResult] = harness.results
    lines: list[str] = []
    if results:
        lines += session_tables(results).splitlines() + [""]
    time_lines, time_data = time_breakdown(harness)
    lines += time_lines
    for method, reason in harness.skipped.items():
        lines.append(f"skipped {method}: {reason}")
    for method, reason in harness.pool.failures.items():
        lines.append(f"failed {reason}")
    env = _session_env(harness)
    exit_code = None
    try:
        write_session(harness, settings, env, time_data, partial=exitstatus == EXIT_INTERRUPTED)
    except OSError as exc:
        from quantbench.files import describe

        lines.append(f"quantbench: session file not written to {settings.report_dir}: {describe(exc)}")
        exit_code = EXIT_UNWRITTEN
    if settings.update_baseline or settings.compare:
        from quantbench import baseline_gate

        gate_lines, gate_exit = baseline_gate.run(harness, settings, env, exitstatus)
        lines += [""] + gate_lines
        exit_code = gate_exit if gate_exit or exit_code is None else exit_code
    return {"lines": lines, "exit": exit_code}
