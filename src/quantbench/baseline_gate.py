"""The baseline step at the end of a session: write this run as the baseline, or judge it
against the stored one, and say which exit status the session deserves.

Exit statuses: 0 pass, 1 a regression or a quality failure, 4 a baseline that cannot be used
(corrupt, wrong schema, another GPU or model, a scenario that differs) or a comparison that judged
nothing (no baseline for this GPU yet, which says how to make one, is a pass only when allowed:
``quantbench.gate_inputs``). The stored file is only ever read here, except by an explicit update,
which writes atomically and keeps the previous file in ``history/``.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import replace
from typing import Any

from quantbench.baseline import (
    BaselineError,
    baseline_from_results,
    baseline_path,
    load_baseline,
    write_baseline,
)
from quantbench.compare import check_compatible, compare
from quantbench.files import describe
from quantbench.gate_inputs import locate, nothing_judged
from quantbench.host import host_note
from quantbench.reports import comparison_table, write_reports
from quantbench.settings import Settings

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_BAD_BASELINE = 4


def _command() -> str:
    return " ".join(shlex.quote(a) for a in ["pytest", *sys.argv[1:]])


def update(harness: Any, settings: Settings, env: dict[str, Any], exitstatus: int) -> tuple[list[str], int]:
    """Write the session as this GPU's baseline; refuse when the session itself failed."""
    path = baseline_path(settings.baseline_dir, env["gpu"], harness.source.spec)
    if exitstatus != 0:
        return [f"baseline not updated: the session failed (exit {exitstatus}); {path} is unchanged"], exitstatus
    if not harness.results:
        return [f"baseline not updated: no results in this session; {path} is unchanged"], EXIT_BAD_BASELINE
    baseline = baseline_from_results(
        harness.results,
        gpu=env["gpu"],
        model_source=harness.source.spec,
        scenario=settings.scenario.to_dict(),
        environment=env,
        provenance={"kind": "measured", "command": _command(),
                    "note": "written by quantbench --quantbench-update-baseline"},
    )
    try:
        kept = write_baseline(path, baseline)
    except OSError as exc:
        return [f"baseline not updated: cannot write {path}: {describe(exc)}"], EXIT_BAD_BASELINE
    lines = [f"baseline written: {path}"]
    lines.append(f"previous baseline kept as {kept}" if kept else "no previous baseline (or identical)")
    return lines, EXIT_OK


def judge(harness: Any, settings: Settings, env: dict[str, Any]) -> tuple[list[str], int]:
    """Compare the session with the stored baseline of this GPU and model source."""
    path = baseline_path(settings.baseline_dir, env["gpu"], harness.source.spec)
    problem = locate(path, gpu=env["gpu"], source=harness.source.spec,
                     allow_missing=settings.allow_missing_baseline)
    if problem is not None:
        return problem
    try:
        baseline = load_baseline(path)
        check_compatible(baseline, gpu=env["gpu"], model_source=harness.source.spec,
                         scenario=settings.scenario.to_dict())
    except BaselineError as exc:
        return [f"quantbench: baseline unusable: {exc}"], EXIT_BAD_BASELINE
    comparison = compare(baseline, harness.results, settings, skipped=harness.skipped)
    ran = replace(comparison, rows=tuple(comparison.ran))
    lines = [f"compared with {path} ({baseline.provenance.get('kind', '?')}, "
             f"{baseline.environment.get('date', 'undated')})", comparison_table(ran)]
    lines += list(comparison.notes)
    note = host_note(baseline.environment.get("launch_overhead_us"), env.get("launch_overhead_us"))
    if note:
        lines.append(note)
    try:
        written = write_reports(settings.report_dir, comparison, harness.results, env,
                                title=f"quantbench: {env['gpu']} / {harness.source.spec}")
        lines.append("reports: " + ", ".join(str(p) for p in written.values()))
    except OSError as exc:
        lines.append(f"reports not written: {exc}")
    empty = nothing_judged(comparison, harness.results, settings.allow_missing_baseline)
    if empty is not None:
        return lines + empty[0], empty[1]
    if comparison.exit_ok:
        lines.append(f"gate: pass ({len(comparison.improvements)} improvement(s) beyond tolerance)")
        return lines, EXIT_OK
    names = sorted({f"{r.case_key} {r.method} {r.metric}" for r in comparison.regressions})
    lines.append(f"gate: FAIL, {len(names)} regression(s): " + "; ".join(names))
    return lines, EXIT_REGRESSION


def run(harness: Any, settings: Settings, env: dict[str, Any], exitstatus: int) -> tuple[list[str], int]:
    """Update or compare, as the settings ask; returns print-ready lines and the exit status."""
    if settings.update_baseline:
        return update(harness, settings, env, exitstatus)
    return judge(harness, settings, env)

