"""``python -m quantbench ab``: same-host A/B of two installs, base and head, in alternating runs.

    python -m quantbench ab --base PYTHON --head PYTHON [--pairs K|auto [--max-pairs N]] [--base-args "..."]
        [--head-args "..."] [--base-dir DIR] [--head-dir DIR] [--out DIR] -- <pytest args>

On a fleet of lent GPUs wall-clock figures spread tens of percent between machines, more than
the regressions a gate must catch (issue 11). Comparing on one host removes that spread: each
side runs ``PYTHON -m pytest benches <pytest args> <side args> --qb-report-dir <out>/<side>-<i>
--benchmark-disable`` in its own process, in the order base, head, base, head, … for K pairs, so
a drift of the machine (clocks, heat, a neighbour) hits both sides alike. This is asv's
``asv continuous --interleave-rounds`` and Bencher's relative benchmarking (base and head on the
same runner in one job); pyperf likewise spreads samples over worker processes.
``ab.paired`` then judges head against base with a paired test over the K pairs, Holm-corrected
over the A/B's tests so identical sides fail with probability at most 5 %.

``--pairs auto`` runs 3 pairs, then one more at a time until every timed gated metric's interval
at that corrected level is within its tolerance (so a change of the tolerance's size would show),
or ``--max-pairs`` (default 10) is reached; the notes say which stopped it and which metrics were
still too noisy. Either way the report gives each metric's minimum detectable effect (80 % power
at the corrected level, ``ab.detectable``), the smallest change the run could have caught.

Each side runs in its own working directory (``--base-dir``, ``--head-dir``; default the current
one), so the base side runs the base checkout's benches. A run that exits with anything but 0 or
1 (1: a failed bench or its own quality gate, both named in the notes), or leaves no finished
session file, stops the A/B with one line and exit 4. Verdicts go to ``<out>/summary.md``,
``comparison.json`` and ``comparison.png``; exit 0 pass, 1 regression.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from quantbench.config import Settings, SettingsError, build_settings, read_pyproject
from quantbench.judge.compare import Comparison
from quantbench.results import CaseResult
from quantbench.commands.ab_runs import (AbError, Runs, baseline_writes, check_comparable,
                                         nothing_judged, run_failures)
from quantbench.commands.child import RunFn, child_env, run_child, run_subprocess
from quantbench.session import Session

from quantbench import exits
from quantbench.files import check_writable_dir, describe
from quantbench.store.calibrate import merge_sessions
from quantbench.ab.paired import paired_comparison
from quantbench.ab.detectable import auto_notes, detectable
from quantbench.ab.reasons import AbNote, RunExited
from quantbench.judge.quality import quality_rows
from quantbench.report.detectable import noisy_line, detectable_records, detectable_table
from quantbench.report.publish import clear_reports, comparison_table, save_reports
from quantbench.report.reasons import notes_text

# 1 is a finished session whose bench failed or whose own quality gate failed: still judged.
ACCEPTED_EXITS = (0, 1)
# --pairs auto: the pairs it starts with, and the default maximum.
MIN_AUTO_PAIRS = 3
DEFAULT_MAX_PAIRS = 10



@dataclass(frozen=True)
class Side:
    """One side of the A/B: its interpreter, extra pytest arguments and working directory."""

    name: str
    python: str
    args: tuple[str, ...] = ()
    cwd: Path = Path(".")


def bench_command(side: Side, report_dir: Path, pytest_args: Sequence[str]) -> list[str]:
    """The pytest command line of one run of ``side``."""
    return [side.python, "-m", "pytest", "benches", *pytest_args, *side.args,
            "--qb-report-dir", str(report_dir), "--benchmark-disable"]


def schedule(pairs: int) -> list[tuple[str, int]]:
    """The run order: base 1, head 1, base 2, head 2, …"""
    return [(name, i) for i in range(1, pairs + 1) for name in ("base", "head")]


def run_pairs(base: Side, head: Side, pairs: int, out: Path, pytest_args: Sequence[str],
              run: RunFn = run_subprocess, say: Callable[[str], None] = print,
              enough: Callable[[Runs], bool] | None = None) -> Runs:
    """Run the sides in alternation, ``pairs`` times each; ``AbError`` on an unusable run.
    With ``enough`` (``--pairs auto``), ``pairs`` is the maximum: after each pair from
    ``MIN_AUTO_PAIRS`` on, the A/B stops once ``enough`` says the pairs so far suffice."""
    sides = {"base": base, "head": head}
    sessions: dict[str, list[Session]] = {"base": [], "head": []}
    codes: dict[str, list[int]] = {"base": [], "head": []}
    notes: list[AbNote] = []
    env = child_env()
    total = str(pairs) if enough is None else f"≤{pairs}"
    for name, i in schedule(pairs):
        side = sides[name]
        folder = out / f"{name}-{i}"
        child = run_child(bench_command(side, folder, pytest_args), folder, side.cwd, run, env)
        code, session, log = child.code, child.session, child.log
        if code not in ACCEPTED_EXITS:
            raise AbError(f"{name} run {i} failed with exit {code}; its output: {log}")
        if session is None:
            raise AbError(f"{name} run {i} (exit {code}): {child.problem}; its output: {log}")
        if session.partial:
            raise AbError(f"{name} run {i} did not finish (partial session); its output: {log}")
        if code:
            notes.append(RunExited(name, i, code, log))
        sessions[name].append(session)
        codes[name].append(code)
        say(f"quantbench ab: {name} {i}/{total}: exit {code}, {len(session.results)} case(s), "
            f"{child.seconds:.1f} s")
        if (enough is not None and name == "head" and i >= MIN_AUTO_PAIRS
                and enough(Runs(sessions["base"], sessions["head"], notes, codes))):
            break
    return Runs(sessions["base"], sessions["head"], notes, codes)


def judge_runs(runs: Runs, settings: Settings, head_results: list[CaseResult]) -> Comparison:
    """Head against base, pair by pair, plus the quality thresholds of head's merged results
    ``head_results`` (as head's own gate judges them)."""
    pairs = len(runs.base)
    comparison = paired_comparison([s.results for s in runs.base], [s.results for s in runs.head],
                                   settings.tolerance, label=f"same-host ({pairs} base runs)")
    quality = quality_rows(head_results, settings, synthetic=runs.head[0].synthetic)
    return replace(comparison, rows=comparison.rows + tuple(quality),
                   notes=tuple(runs.notes) + comparison.notes)


def _pairs(text: str) -> int | str:
    """``--pairs``: a whole number or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of pairs or 'auto': {text!r}") from None


def auto_pairs(tolerance: Callable[[str], float], say: Callable[[str], None]
               ) -> Callable[[Runs], bool]:
    """``--pairs auto``'s test after each pair: every watched metric's interval within its
    tolerance (``ab.detectable.detectable``); otherwise one line names those still too wide."""
    def enough(runs: Runs) -> bool:
        line = noisy_line(detectable([s.results for s in runs.base], [s.results for s in runs.head],
                                     tolerance))
        if line:
            say(line)
        return line is None

    return enough


def _parser() -> exits.ArgumentParser:
    parser = exits.ArgumentParser(
        prog="python -m quantbench ab", usage="%(prog)s --base PYTHON --head PYTHON [options] -- "
        "<pytest args>", description="Same-host A/B: base and head benches in alternating "
        "processes, judged with a paired test.")
    parser.add_argument("--base", required=True, metavar="PYTHON", help="the base side's interpreter")
    parser.add_argument("--head", required=True, metavar="PYTHON", help="the head side's interpreter")
    parser.add_argument("--pairs", type=_pairs, default=3, metavar="K|auto",
                        help="base/head pairs (default 3); auto: from 3, one more until every "
                             "timed metric's 95%% interval is within its tolerance")
    parser.add_argument("--max-pairs", type=int, default=None, metavar="N",
                        help=f"the most pairs --pairs auto runs (default {DEFAULT_MAX_PAIRS})")
    parser.add_argument("--base-args", default="", help="extra pytest arguments for base only")
    parser.add_argument("--head-args", default="", help="extra pytest arguments for head only")
    parser.add_argument("--base-dir", type=Path, default=Path("."), help="base's working directory")
    parser.add_argument("--head-dir", type=Path, default=Path("."), help="head's working directory")
    parser.add_argument("--out", type=Path, default=Path(".quantbench/ab"),
                        help="where runs and reports go (default .quantbench/ab)")
    parser.add_argument("--tolerance", action="append", default=None, metavar="METRIC=FRACTION")
    return parser


def main(argv: Sequence[str] | None = None, run: RunFn = run_subprocess) -> int:
    """The ``ab`` command; ``run`` starts one bench process (tests pass a fake)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    parser = _parser()
    args = parser.parse_args(argv[:cut])
    pytest_args = argv[cut + 1:]
    auto = args.pairs == "auto"
    if not auto and args.max_pairs is not None:
        parser.error("--max-pairs goes with --pairs auto")
    maximum = DEFAULT_MAX_PAIRS if args.max_pairs is None else args.max_pairs
    if auto and maximum < MIN_AUTO_PAIRS:
        parser.error(f"--max-pairs must be at least {MIN_AUTO_PAIRS}, not {maximum}")
    if not auto and args.pairs < 2:
        parser.error(f"--pairs must be at least 2 for a paired test, not {args.pairs}")
    try:
        side_args = {name: tuple(shlex.split(text)) for name, text in
                     (("base", args.base_args), ("head", args.head_args))}
    except ValueError as exc:
        parser.error(f"--base-args/--head-args: {exc}")
    writes = baseline_writes([*pytest_args, *side_args["base"], *side_args["head"]],
                             os.environ.get("PYTEST_ADDOPTS", ""), [args.base_dir, args.head_dir])
    if writes:
        print(f"quantbench ab: {writes}", file=sys.stderr)
        return exits.USAGE
    try:
        settings = build_settings(read_pyproject(Path.cwd()), {"tolerance": args.tolerance})
    except SettingsError as exc:
        print(f"quantbench ab: {exc}", file=sys.stderr)
        return exits.USAGE
    out = args.out.resolve()
    try:
        check_writable_dir(out)
        clear_reports(out)  # an earlier A/B's verdicts are not this one's
    except OSError as exc:
        print(f"quantbench ab: cannot write to --out {out}: {describe(exc)}", file=sys.stderr)
        return exits.USAGE
    base = Side("base", args.base, side_args["base"], args.base_dir.resolve())
    head = Side("head", args.head, side_args["head"], args.head_dir.resolve())
    try:
        say = lambda line: print(line, flush=True)  # noqa: E731
        runs = run_pairs(base, head, maximum if auto else args.pairs, out, pytest_args, run, say,
                         auto_pairs(settings.tolerance, say) if auto else None)
        check_comparable(runs)
    except AbError as exc:
        print(f"quantbench ab: {exc}", file=sys.stderr)
        return exits.USAGE
    pairs = len(runs.base)
    found = detectable([s.results for s in runs.base], [s.results for s in runs.head], settings.tolerance)
    if auto:
        runs = replace(runs, notes=runs.notes + auto_notes(found, pairs, maximum))
    head_results = merge_sessions(runs.head)
    comparison = judge_runs(runs, settings, head_results)
    if not comparison.rows:
        print(f"quantbench ab: {nothing_judged(runs, comparison)}", file=sys.stderr)
        return exits.USAGE
    env = {"base": runs.base[0].environment, "head": runs.head[0].environment,
           "pairs": pairs, "pairs_asked": f"auto, {MIN_AUTO_PAIRS} to {maximum}" if auto else pairs,
           "power": detectable_records(found), "pytest_args": pytest_args,
           "base_command": bench_command(base, out / "base-<i>", pytest_args),
           "head_command": bench_command(head, out / "head-<i>", pytest_args)}
    failures, failed = run_failures(runs, out)
    saved = save_reports(out, comparison, head_results, env, failures=failures,
                         title=f"quantbench A/B: head vs base, {pairs} pairs on "
                               f"{runs.base[0].gpu} / {runs.base[0].model_source}")
    print(comparison_table(comparison))
    if found:
        print(detectable_table(found))
    for note in notes_text(comparison):
        print(note)
    print("\n".join(saved.said))
    return outcome(comparison, failures, failed, saved.code)


def outcome(comparison: Comparison, failures: list[str], failed: int, saved: int | None) -> int:
    """Print the A/B's last line and return its exit status: interrupted while writing its
    reports 2, failed runs (``run_failures``) their status, a regression 1, reports that could not
    be written 4, else 0."""
    if saved == exits.INTERRUPTED:
        print("ab: interrupted while writing the reports (none is left)")
        return saved
    if failures:
        print(f"ab: {'FAIL' if failed == exits.REGRESSION else 'cannot judge'}: {failures[0]}")
        return failed
    if not comparison.exit_ok:
        names = sorted({f"{r.case_key} {r.method} {r.metric}" for r in comparison.regressions})
        print(f"ab: FAIL, {len(names)} regression(s) or quality failure(s): " + "; ".join(names))
        return exits.REGRESSION
    if saved:
        print(f"ab: exit {saved}: the verdict passed, but its reports were not all written")
        return saved
    print(f"ab: pass ({len(comparison.improvements)} improvement(s))")
    return exits.OK
