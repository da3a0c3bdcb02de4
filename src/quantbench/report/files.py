"""CI reports of a session: a terminal table of verdicts, a Markdown summary, JSON and a chart.

Everything here is formatting of records already decided by ``compare``; nothing is measured or
judged again. The chart needs matplotlib (the ``report`` extra), which is imported only when a
chart is drawn, so a machine without it still gets every text report.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from quantbench.catalog import spec
from quantbench.judge.compare import Comparison, Row
from quantbench.results import CaseResult, Metric
from quantbench.report.tables import fmt_metric, render, session_tables

COLUMNS = ["case", "method", "metric", "baseline", "now", "change", "tolerance", "verdict"]
PLOT_KINDS = ("throughput", "memory")


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
    tol = "-" if row.tolerance is None else f"±{row.tolerance * 100:.0f}%"
    return [row.case_key, row.method, f"{row.metric}{unit}".strip(), _value(row.baseline),
            _value(row.current), _change(row), tol, row.verdict]


def comparison_table(comparison: Comparison) -> str:
    """Fixed-width table, one line per compared metric."""
    return render([_cells(r) for r in comparison.rows], COLUMNS)


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


def _plot_entries(
    comparison: Comparison | None, results: list[CaseResult]
) -> dict[tuple[str, str], list[tuple[str, float | None, float | None]]]:
    """``(case, kind) -> [(method metric label, baseline, now)]`` for throughput and memory."""
    out: dict[tuple[str, str], list[tuple[str, float | None, float | None]]] = {}
    seen: set[tuple[str, str, str]] = set()
    for row in comparison.rows if comparison else ():
        kind = spec(row.metric).kind
        if kind in PLOT_KINDS:
            now = row.current.median if row.current else None
            out.setdefault((row.case_key, kind), []).append(
                (f"{row.method}\n{row.metric}", row.baseline.median, now))
            seen.add((row.case_key, row.method, row.metric))
    for result in results:
        for name, metric in result.metrics.items():
            kind = spec(name).kind
            if kind in PLOT_KINDS and (result.case_key, result.method, name) not in seen:
                out.setdefault((result.case_key, kind), []).append(
                    (f"{result.method}\n{name}", None, metric.median))
    return out


def write_chart(path: Path, comparison: Comparison | None, results: list[CaseResult]) -> str | None:
    """Draw baseline-vs-now bars per method: one subplot per case for throughput, one for memory.

    Returns a one-line note instead of raising when matplotlib is missing or there is nothing to
    draw.
    """
    entries = _plot_entries(comparison, results)
    if not entries:
        return "comparison.png not written: no throughput or memory metrics"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "comparison.png not written: matplotlib is not installed (pip install .[report])"
    keys = sorted(entries, key=lambda k: (k[0], PLOT_KINDS.index(k[1])))
    fig, axes = plt.subplots(len(keys), 1, figsize=(9, 3.2 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        items = entries[key]
        xs = range(len(items))
        base = [b if b is not None else 0.0 for _, b, _ in items]
        now = [n if n is not None else 0.0 for _, _, n in items]
        ax.bar([x - 0.2 for x in xs], base, 0.4, label="baseline", color="#9aa5b1")
        ax.bar([x + 0.2 for x in xs], now, 0.4, label="now", color="#2f6fdf")
        ax.set_xticks(list(xs), [label for label, _, _ in items], fontsize=8)
        unit = "tok/s" if key[1] == "throughput" else "GB"
        ax.set_title(f"{key[0]} · {key[1]}", fontsize=10)
        ax.set_ylabel(unit)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def write_reports(
    report_dir: Path | str,
    comparison: Comparison | None,
    results: list[CaseResult],
    environment: dict[str, Any],
    *,
    title: str = "quantbench",
) -> dict[str, Path]:
    """Write ``summary.md``, ``comparison.json`` and ``comparison.png`` into ``report_dir``.

    The Markdown is also appended to ``$GITHUB_STEP_SUMMARY`` when that is set, so a GitHub
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
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
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
