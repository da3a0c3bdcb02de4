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
from typing import Mapping, Sequence

from quantbench import exits
from quantbench.catalog import SPECS, gated
from quantbench.files import describe
from quantbench.store.baseline import Baseline
from quantbench.judge.compare import INFO, NOT_RUN, REGRESSION, Comparison
from quantbench.judge.findings import Problem, Unjudged
from quantbench.judge.reasons import (Absence, Fixed, LostMethod, LostMethodNote, LostMetrics, NotRun,
                                      NotRunNote, Unbaselined)
from quantbench.results import CaseResult

def locate(path: Path, *, gpu: str, source: str, allow_missing: bool) -> Unjudged | None:
    """``None`` when ``path`` is there to be loaded; else why nothing is compared."""
    try:
        os.stat(path)
        return None
    except FileNotFoundError:
        return Unjudged(Problem.MISSING, exits.OK if allow_missing else exits.USAGE, path, gpu, source)
    except NotADirectoryError:
        part = next((p for p in reversed(path.parents) if p.is_file()), path.parent)
        return Unjudged(Problem.DIR_IS_FILE, exits.USAGE, part)
    except OSError as exc:
        return Unjudged(Problem.UNREADABLE, exits.USAGE, path, detail=describe(exc))


def nothing_judged(comparison: Comparison, results: Sequence[CaseResult],
                   allow_missing: bool) -> Unjudged | None:
    """``None`` when at least one metric was judged; else why nothing was."""
    if any(row.verdict not in (NOT_RUN, INFO) for row in comparison.rows):
        return None
    ran = tuple(dict.fromkeys((r.case_key, r.method) for r in results))
    held = {(row.case_key, row.method) for row in comparison.rows}
    measured = any((r.case_key, r.method) in held for r in results)
    return Unjudged(Problem.NOTHING_MEASURED if measured else Problem.NONE_HELD,
                    exits.OK if allow_missing else exits.USAGE, ran=ran)


def lost_methods(comparison: Comparison, skipped: Mapping[str, str],
                 failures: Mapping[str, str]) -> Comparison:
    """A method the baseline holds that this session selected and could not run (its library
    fails to import, it fails to load) fails the gate: its ``not run`` rows become regressions
    and one note per method says why. ``ab`` judges a lost case the same way; a method merely
    not selected this run stays ``not run``."""
    why = {**{m: LostMethod(skipped=r) for m, r in skipped.items()},
           **{m: LostMethod(failure=f) for m, f in failures.items()}}
    rows, lost = [], {}
    for row in comparison.rows:
        if row.verdict == NOT_RUN and row.method in why:
            lost[row.method] = why[row.method]
            row = replace(row, verdict=REGRESSION, reason=why[row.method])
        rows.append(row)
    if not lost:
        return comparison
    notes = [n for n in comparison.notes if not (isinstance(n, NotRunNote) and n.method in lost)]
    notes += [LostMethodNote(m, reason) for m, reason in lost.items()]
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
            row = replace(row, verdict=REGRESSION, reason=Fixed.LOST_METRIC)
        rows.append(row)
    if not lost:
        return comparison
    unmeasured = NotRun(Absence.NOT_MEASURED)
    notes = [n for n in comparison.notes
             if not (isinstance(n, NotRunNote) and (n.case_key, n.method) in lost and n.reason == unmeasured)]
    notes += [LostMetrics(c, m, tuple(names)) for (c, m), names in lost.items()]
    return replace(comparison, rows=tuple(rows), notes=tuple(notes))


def unbaselined_metrics(baseline: Baseline, results: Sequence[CaseResult]) -> list[Unbaselined]:
    """One note per (case, method) the baseline holds whose gated metrics it lacks in part (a
    metric deleted from the file, or left out by ``calibrate``): those are not compared, and
    say so, as a case or method the baseline lacks does."""
    notes: list[Unbaselined] = []
    for result in results:
        held = baseline.results.get(result.case_key, {}).get(result.method)
        if held is None:
            continue  # the whole case or method: compare's own "no baseline for" note
        missing = [n for n in result.metrics
                   if n not in held and n in SPECS and gated(n)]
        if missing:
            notes.append(Unbaselined(result.case_key, result.method, tuple(missing)))
    return notes
