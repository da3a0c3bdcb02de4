"""The PR comment: a short Markdown digest of one verdict, failing rows first, the rest folded.

``summary.md`` is the full report; a pull request needs less: a headline, the rows that fail (a
regression or a quality failure) in a table a reviewer reads in seconds, what moved, and every
other row and note inside a ``<details>`` block. The gate writes it as ``comment.md`` beside
``summary.md`` (``report.publish.write_reports``, which the A/B uses too) and appends it to
``$GITHUB_STEP_SUMMARY``; a workflow posts it as a comment (``.github/workflows/gpu-ab.yml``).
GitHub refuses a comment over 65,536 characters, so the folded table is cut to fit, saying so,
and the title (a model source may be any length) is cut first. Every string from the session or
the baseline is escaped (``report.escape.markdown``): the comment renders it as text.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

from quantbench.judge.compare import (
    FAILING, IMPROVEMENT, INFO, PASS, WITHIN_NOISE, Comparison, Row,
)
from quantbench.results import percent
from quantbench.report.what_moved import what_moved
from quantbench.report.escape import markdown
from quantbench.report.reasons import notes_text
from quantbench.report.tables import fmt_metric
from quantbench.report.verdicts import threshold_text

MAX_CHARS = 60_000  # under GitHub's 65,536-character limit on a comment body, title included
TITLE_CHARS = 300
HEADER = ["case", "method", "metric", "before → after", "change", "tolerance", "verdict"]
FOLD_ORDER = (IMPROVEMENT, WITHIN_NOISE, PASS, INFO)  # the folded rows, most telling first


def _cells(row: Row) -> list[str]:
    unit = f" {row.unit}" if row.unit else ""
    change = "-" if row.change is None else (
        f"{row.change * 100:+.1f}%" if math.isfinite(row.change) else "from 0")
    tol = threshold_text(row) or ("-" if row.tolerance is None else f"±{percent(row.tolerance)}")
    moved = f"{fmt_metric(row.baseline)} → {fmt_metric(row.current)}{unit}"
    return [markdown(c) for c in (row.case_key, row.method, row.metric, moved, change, tol, row.verdict)]


def _table(rows: Sequence[Row]) -> list[str]:
    return (["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
            + ["| " + " | ".join(_cells(r)) + " |" for r in rows])


def _fold_key(row: Row) -> tuple[int, str, str, str]:
    rank = FOLD_ORDER.index(row.verdict) if row.verdict in FOLD_ORDER else len(FOLD_ORDER)
    return rank, row.case_key, row.method, row.metric


def _fit(lines: list[str], budget: int) -> tuple[list[str], int]:
    """As many of ``lines`` as fit in ``budget`` characters (a line saying how many were cut
    replaces the rest), and the budget left."""
    for i, line in enumerate(lines):
        if len(line) + 1 > budget - 80:
            return lines[:i] + ["", f"_{len(lines) - i} more line(s) cut to fit a comment: see "
                                    "summary.md_"], 0
        budget -= len(line) + 1
    return lines, budget


def digest(comparison: Comparison | None, title: str, failures: Sequence[str] = ()) -> str:
    """The comment body for ``comparison`` (``None``: nothing was compared); ``failures`` are
    lines that fail the run outside its rows (an A/B whose head runs all failed), shown first."""
    parts = [f"### {markdown(title, TITLE_CHARS)}", ""]
    failed = [f"- ❌ {markdown(line, 2000)}" for line in failures]
    if comparison is None:
        return "\n".join(parts + failed + ["No baseline comparison in this run.", ""])
    failing = [r for r in comparison.ran if r.verdict in FAILING]
    rest = sorted((r for r in comparison.ran if r.verdict not in FAILING), key=_fold_key)
    counts = Counter(r.verdict for r in rest)
    n_failing = len(failing) + len(failures)
    head = f"❌ **{n_failing} failing**" if n_failing else "✅ **nothing failing**"
    tally = ", ".join(f"{counts[v]} {v}" for v in [*FOLD_ORDER, *sorted(set(counts) - set(FOLD_ORDER))]
                      if counts[v])
    tally += f"{', ' if tally else ''}{len(comparison.not_run)} not run" if comparison.not_run else ""
    baseline = f" against {markdown(comparison.baseline_gpu)}" if comparison.baseline_gpu else ""
    parts += [f"{head}{baseline}" + (f" · {tally}" if tally else ""), "", *failed]
    parts += [""] if failed else []
    budget = MAX_CHARS - sum(len(p) + 1 for p in parts) - 100  # room for the <details> lines
    if failing:
        moved = what_moved(comparison.rows)
        shown, budget = _fit(_table(failing) + [""] + [f"- {markdown(line)}" for line in moved], budget)
        parts += shown + [""]
    folded = ([*_table(rest), ""] if rest else []) + [f"- {markdown(note)}" for note in notes_text(comparison)]
    if folded and budget > 0:
        notes = f", {len(comparison.notes)} note(s)" if comparison.notes else ""
        shown, _ = _fit(folded, budget)
        parts += [f"<details><summary>{len(rest)} other row(s){notes}</summary>", "", *shown,
                  "", "</details>", ""]
    return "\n".join(parts)
