"""CI reports of a session: a terminal table of verdicts, a Markdown summary, JSON and a chart.

Everything here is formatting of records already decided by ``compare``; nothing is measured or
judged again. The chart (``chart``) needs matplotlib (the ``report`` extra), which is imported only
when a chart is drawn, so a machine without it still gets every text report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from quantbench.files import describe
from quantbench.judge.compare import UNCONFIRMED, Comparison
from quantbench.report.chart import write_chart
from quantbench.report.digest import digest
from quantbench.report.tables import session_tables
from quantbench.report.verdicts import markdown_verdicts, shown, terminal_lines, verdict_table
from quantbench.results import CaseResult


def comparison_table(comparison: Comparison, show_all: bool = False) -> str:
    """The terminal's table: failing rows by default, every row that ran with ``show_all``."""
    return verdict_table(shown(comparison, show_all))


def _headline(comparison: Comparison, not_compared: str) -> str:
    n_reg, n_imp = len(comparison.regressions), len(comparison.improvements)
    n_skip, n_unconfirmed = len(comparison.not_run), sum(r.verdict == UNCONFIRMED for r in comparison.rows)
    if not_compared:
        head = f"**Nothing was compared with a baseline**: {not_compared}."
        head += f" ❌ **{n_reg} quality failure(s)**" if n_reg else " Quality thresholds: ✅ pass"
        return head
    head = f"❌ **FAIL: {n_reg} failing row(s)**" if n_reg else "✅ **pass: no regressions**"
    extra = [f"{n_unconfirmed} unconfirmed (not failing)"] if n_unconfirmed else []
    extra += [f"{n_imp} improvement(s): baseline may be stale"] if n_imp else []
    extra += [f"{n_skip} metric(s) not run"] if n_skip else []
    return head + (" · " + " · ".join(extra) if extra else "") + f" (baseline: {comparison.baseline_gpu})"


def markdown_summary(comparison: Comparison | None, results: list[CaseResult], title: str,
                     not_compared: str = "") -> str:
    """The Markdown a CI job shows: the gate's headline and one line per failing (case, method),
    the failing rows, every other row inside ``<details>``, the notes (one line per case and
    method that did not run), then the results. ``not_compared`` says why no baseline judged."""
    parts = [f"## {title}", ""]
    if comparison is not None:
        parts += [_headline(comparison, not_compared), ""]
        parts += markdown_verdicts(comparison)
        parts += [f"- {note}" for note in comparison.notes]
        parts += [""] if comparison.notes else []
    else:
        parts += [f"**Nothing was compared**: {not_compared or 'no baseline comparison in this run'}.", ""]
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
    not_compared: str = "",
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
    markdown = markdown_summary(comparison, results, title, not_compared)
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



def publish(verdict: Any, session: Any, report_dir: Path, *, show_all: bool = False,
            before_outcome: list[str] | None = None, flag: str = "--qb-all-verdicts") -> list[str]:
    """The gate's verdict (``judge.gate.Verdict``) as terminal lines, with summary.md,
    comparison.json and comparison.png written to ``report_dir`` when anything was judged: the
    context, the table (failing rows, or every row with ``show_all``), the reports, one line per
    failing (case, method), ``before_outcome``, and the outcome last (``flag``: the option that
    shows every row, named where rows are left out)."""
    comparison = verdict.comparison
    tail = list(before_outcome or [])
    if comparison is None:
        return list(verdict.lines) + tail
    lines = list(verdict.lines)
    try:
        written = write_reports(report_dir, comparison, session.results, session.environment,
                                title=f"quantbench: {session.gpu} / {session.model_source}",
                                not_compared=verdict.not_compared)
        lines.append(f"reports in {report_dir}: " + ", ".join(written))
    except OSError as exc:
        clear_reports(report_dir)  # no half-written chart or summary left to be read as this one
        lines.append(f"{REPORTS_UNWRITTEN} to {report_dir}: {describe(exc)}")
    if verdict.not_compared:
        lines.append(f"nothing was compared with a baseline: {verdict.not_compared}")
    return lines + terminal_lines(comparison, show_all, flag) + tail + [verdict.outcome]


REPORTS = ("summary.md", "comment.md", "comparison.json", "comparison.png")
REPORTS_UNWRITTEN = "quantbench: reports not written"


def clear_reports(report_dir: Path) -> None:
    """Remove the reports of an earlier verdict from ``report_dir``, so a run that judges nothing
    (or cannot write) never leaves a previous "no regressions" beside its own session file."""
    for name in REPORTS:
        try:
            (Path(report_dir) / name).unlink(missing_ok=True)
        except OSError:
            pass  # a folder that cannot be written: the caller's own check says so


def reports_unwritten(lines: list[str]) -> bool:
    """Whether ``publish``'s lines say the reports could not be written."""
    return any(line.startswith(REPORTS_UNWRITTEN) for line in lines)
