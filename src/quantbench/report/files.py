"""CI reports of a session: a terminal table of verdicts, a Markdown summary, JSON and a chart.

Everything here is formatting of records already decided by ``compare``; nothing is measured or
judged again. The chart (``chart``) needs matplotlib (the ``report`` extra), which is imported only
when a chart is drawn, so a machine without it still gets every text report.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from quantbench.catalog import spec
from quantbench.judge.compare import Comparison, Row, percent
from quantbench.report.chart import write_chart
from quantbench.report.digest import digest
from quantbench.results import CaseResult, Metric
from quantbench.report.tables import fmt_metric, render, session_tables

COLUMNS = ["case", "method", "metric", "baseline", "now", "change", "tolerance", "verdict"]


def _value(metric: Metric | None) -> str:
    text = fmt_metric(metric)
    return f"~{text}" if metric is not None and metric.approximate else text


def _change(row: Row) -> str:
    if row.change is None:
        return "-"
    if not math.isfinite(row.change):
        return "+inf" if row.change > 0 else "-inf"
    return f"{row.change * 100:+.1f}%"


def _cells(row: Row) -> list[str]:
    unit = f" {row.unit}" if row.unit else ""
    tol = "-" if row.tolerance is None else f"±{percent(row.tolerance)}"
    return [row.case_key, row.method, f"{row.metric}{unit}".strip(), _value(row.baseline),
            _value(row.current), _change(row), tol, row.verdict]


FAMILY_ORDER = ("gpu", "host", "wall", "memory", "quality", "info")


def by_family(rows: tuple[Row, ...] | list[Row]) -> list[Row]:
    """Rows grouped by what they measure (GPU work, host work, wall clock, memory, quality,
    info), each group in case and method order, so a reader sees what moved."""
    def key(row: Row) -> tuple[int, str, str, str]:
        family = spec(row.metric).family
        return (FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER),
                row.case_key, row.method, row.metric)

    return sorted(rows, key=key)


def comparison_table(comparison: Comparison) -> str:
    """Fixed-width table, one line per compared metric, grouped by family."""
    return render([_cells(r) for r in by_family(comparison.rows)], COLUMNS)


def _markdown_table(rows: list[list[str]], header: list[str]) -> str:
    esc = lambda c: c.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _headline(comparison: Comparison) -> str:
    n_reg, n_imp = len(comparison.regressions), len(comparison.improvements)
    n_skip = len(comparison.not_run)
    head = f"❌ **{n_reg} regression(s)**" if n_reg else "✅ **no regressions**"
    extra = [f"{n_imp} improvement(s): baseline may be stale"] if n_imp else []
    extra += [f"{n_skip} metric(s) not run"] if n_skip else []
    return head + (" · " + " · ".join(extra) if extra else "") + f" (baseline: {comparison.baseline_gpu})"


def markdown_summary(comparison: Comparison | None, results: list[CaseResult], title: str) -> str:
    """The Markdown a CI job shows: the gate's headline, its table of the metrics that ran, the
    notes (including one line per case and method that did not run), then the results."""
    parts = [f"## {title}", ""]
    if comparison is not None:
        parts += [_headline(comparison), ""]
        # A case that did not run is one note per case and method below, not a row per metric.
        if comparison.ran:
            rows = [_cells(r) + [r.reason] for r in comparison.ran]
            parts += [_markdown_table(rows, COLUMNS + ["reason"]), ""]
        parts += [f"- {note}" for note in comparison.notes]
        parts += [""] if comparison.notes else []
    else:
        parts += ["No baseline comparison in this run.", ""]
    if results:
        parts += ["### Results", "", "```text", session_tables(results), "```", ""]
    return "\n".join(parts)


def write_reports(
    report_dir: Path | str,
    comparison: Comparison | None,
    results: list[CaseResult],
    environment: dict[str, Any],
    *,
    title: str = "quantbench",
) -> dict[str, Path]:
    """Write ``summary.md``, ``comment.md`` (``report.digest``: the PR comment), ``comparison.json``
    and ``comparison.png`` into ``report_dir``.

    The digest is also appended to ``$GITHUB_STEP_SUMMARY`` when that is set, so a GitHub
    Actions run shows it on the job page. Returns name -> path of what was written.
    """
    folder = Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    png = folder / "comparison.png"
    note = write_chart(png, comparison, results)
    if note is None:
        written["comparison.png"] = png
    data = {
        "environment": environment,
        "comparison": comparison.to_dict() if comparison else None,
        "results": [r.to_dict() for r in results],
    }
    (folder / "comparison.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    written["comparison.json"] = folder / "comparison.json"
    markdown = markdown_summary(comparison, results, title)
    if note:
        markdown += f"\n_{note}_\n"
    (folder / "summary.md").write_text(markdown, encoding="utf-8")
    written["summary.md"] = folder / "summary.md"
    comment = digest(comparison, title)  # the PR comment; the job page gets the same
    (folder / "comment.md").write_text(comment, encoding="utf-8")
    written["comment.md"] = folder / "comment.md"
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(comment + "\n")
    return written



def publish(verdict: Any, session: Any, report_dir: Path) -> list[str]:
    """The gate's verdict (``judge.gate.Verdict``) as terminal lines, with summary.md,
    comparison.json and comparison.png written to ``report_dir`` when anything was judged."""
    comparison = verdict.comparison
    if comparison is None:
        return list(verdict.lines)
    lines = [*verdict.lines, comparison_table(replace(comparison, rows=tuple(comparison.ran))),
             *comparison.notes]
    try:
        written = write_reports(report_dir, comparison, session.results, session.environment,
                                title=f"quantbench: {session.gpu} / {session.model_source}")
        lines.append("reports: " + ", ".join(str(p) for p in written.values()))
    except OSError as exc:
        lines.append(f"reports not written: {exc}")
    return lines + [verdict.outcome]
