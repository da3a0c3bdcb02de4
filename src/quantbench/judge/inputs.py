"""What the baseline gate checks around a comparison, so that nothing passes unseen.

A method the baseline holds that cannot run now fails (``lost_methods``: the rule ``ab`` applies
to a lost case), and so does a gated metric the baseline holds that a case and method which ran
did not measure (``lost_metrics``: a CPU session that lost its only counter passed); metrics the
baseline lacks are named (``unbaselined_metrics``). An update adds
to a baseline's window of sessions and refuses another model's file (``gate.update``).

Under ``--benchmark-compare`` a job that compared nothing must not go green: a baseline folder
that is a file or cannot be entered is one line and exit 4; a baseline file that does not exist
keeps the first-run message (how to make one) and is exit 4 too, unless the user said that no
baseline yet is fine (``--qb-allow-missing-baseline`` or ``allow_missing_baseline = true``), and
so is a comparison in which no metric was judged (the baseline holds none of this session's
cases). A baseline that exists but cannot be used is ``load_baseline``'s ``BaselineError``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

from quantbench import exits
from quantbench.catalog import SPECS, gated
from quantbench.files import describe
from quantbench.store.baseline import Baseline
from quantbench.judge.compare import INFO, NOT_RUN, REGRESSION, Comparison
from quantbench.results import CaseResult

_ALLOW = ("create one with `pytest benches --qb-update-baseline`, or pass "
          "--qb-allow-missing-baseline (compare: --allow-missing-baseline) if no baseline yet is fine")


class Unjudged(NamedTuple):
    """Why no baseline judged this session: the gate's lines, its exit status, and the reason
    itself in one line (the verdict's ``not_compared``)."""

    lines: list[str]
    code: int
    why: str


def unjudged(why: str, code: int, *, tagged: bool = True) -> Unjudged:
    """One line saying ``why``, marked ``quantbench:`` when ``tagged`` (a problem, not news)."""
    return Unjudged([f"quantbench: {why}" if tagged else why], code, why)


def locate(path: Path, *, gpu: str, source: str, allow_missing: bool) -> Unjudged | None:
    """``None`` when ``path`` is there to be loaded; else why nothing is compared."""
    try:
        os.stat(path)
        return None
    except FileNotFoundError:
        missing = f"no baseline for {gpu} / {source} at {path}: nothing compared"
        if allow_missing:
            return unjudged(f"{missing} (allowed: allow_missing_baseline)", exits.OK, tagged=False)
        return unjudged(f"{missing}; {_ALLOW}", exits.USAGE, tagged=False)
    except NotADirectoryError:
        part = next((p for p in reversed(path.parents) if p.is_file()), path.parent)
        return unjudged(f"baseline dir {part} is a file, not a folder: nothing compared", exits.USAGE)
    except OSError as exc:
        return unjudged(f"baseline unusable: cannot read {path}: {describe(exc)}", exits.USAGE)


def nothing_judged(comparison: Comparison, results: Sequence[CaseResult],
                   allow_missing: bool) -> Unjudged | None:
    """``None`` when at least one metric was judged; else why nothing was."""
    if any(row.verdict not in (NOT_RUN, INFO) for row in comparison.rows):
        return None
    ran = sorted({f"{r.case_key} {r.method}" for r in results})
    held = {(row.case_key, row.method) for row in comparison.rows}
    if any((r.case_key, r.method) in held for r in results):
        text = f"nothing compared: no gated metric of the baseline was measured in this session ({', '.join(ran)})"
    else:
        text = (f"nothing compared: the baseline holds none of this session's {len(ran)} case result(s)"
                + (f" ({', '.join(ran)})" if ran else ""))
    return unjudged(text, exits.OK, tagged=False) if allow_missing else unjudged(text, exits.USAGE)


def lost_methods(comparison: Comparison, skipped: Mapping[str, str],
                 failures: Mapping[str, str]) -> Comparison:
    """A method the baseline holds that this session selected and could not run (its library
    fails to import, it fails to load) fails the gate: its ``not run`` rows become regressions
    and one note per method says why. ``ab`` judges a lost case the same way; a method merely
    not selected this run stays ``not run``."""
    why = {**{m: f"skipped: {r}" for m, r in skipped.items()}, **failures}
    rows, lost = [], {}
    for row in comparison.rows:
        if row.verdict == NOT_RUN and row.method in why:
            lost[row.method] = why[row.method]
            row = replace(row, verdict=REGRESSION, reason=f"ran in the baseline, cannot run now: {why[row.method]}")
        rows.append(row)
    if not lost:
        return comparison
    notes = [n for n in comparison.notes if not any(n.startswith("not run: ") and f" {m} (" in n for m in lost)]
    notes += [f"lost: {m} ran in the baseline and cannot run now ({reason})" for m, reason in lost.items()]
    return replace(comparison, rows=tuple(rows), notes=tuple(notes))


def lost_metrics(comparison: Comparison, results: Sequence[CaseResult]) -> Comparison:
    """A gated metric the baseline holds for a (case, method) that ran in this session but did
    not measure it fails the gate: its ``not run`` row becomes a regression, with one note per
    (case, method). Left ``not run``, the gate passed a session whose work pass lost the CPU's
    only counter (the Python calls per token) with the note folded away."""
    ran = {(r.case_key, r.method) for r in results}
    rows, lost = [], {}
    for row in comparison.rows:
        if row.verdict == NOT_RUN and gated(row.metric) and (row.case_key, row.method) in ran:
            lost.setdefault((row.case_key, row.method), []).append(row.metric)
            row = replace(row, verdict=REGRESSION,
                          reason="measured in the baseline, not in this session: the gate cannot see it")
        rows.append(row)
    if not lost:
        return comparison
    notes = [n for n in comparison.notes
             if not any(n == f"not run: {c} {m} (metric not measured in this run)" for c, m in lost)]
    notes += [f"lost: {c} {m} measured {', '.join(names)} in the baseline and not now"
              for (c, m), names in lost.items()]
    return replace(comparison, rows=tuple(rows), notes=tuple(notes))


def unbaselined_metrics(baseline: Baseline, results: Sequence[CaseResult]) -> list[str]:
    """One note per (case, method) the baseline holds whose gated metrics it lacks in part (a
    metric deleted from the file, or left out by ``calibrate``): those are not compared, and
    say so, as a case or method the baseline lacks does."""
    notes = []
    for result in results:
        held = baseline.results.get(result.case_key, {}).get(result.method)
        if held is None:
            continue  # the whole case or method: compare's own "no baseline for" note
        missing = [n for n in result.metrics
                   if n not in held and n in SPECS and gated(n)]
        if missing:
            notes.append(f"no baseline for {result.case_key} {result.method} {', '.join(missing)} (not compared)")
    return notes
