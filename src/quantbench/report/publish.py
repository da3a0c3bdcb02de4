"""CI reports of a session: a terminal table of verdicts, a Markdown summary, JSON and a chart.

Everything here is formatting of records already decided by ``compare``; nothing is measured or
judged again. The chart (``chart``) needs matplotlib (the ``report`` extra), which is imported only
when a chart is drawn, so a machine without it still gets every text report.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from quantbench import exits
from quantbench.files import describe, replace_bytes
from quantbench.judge.compare import UNCONFIRMED, Comparison
from quantbench.report.chart import write_chart
from quantbench.report.digest import TITLE_CHARS, digest
from quantbench.report.escape import markdown, markdown_block
from quantbench.report.gate_lines import context_lines, not_compared_text, verdict_outcome
from quantbench.report.outcome import Outcome, Written
from quantbench.report.reasons import comparison_dict, notes_text
from quantbench.report.tables import session_tables
from quantbench.report.verdicts import markdown_verdicts, shown, terminal_lines, verdict_table
from quantbench.results import CaseResult


def comparison_table(comparison: Comparison, show_all: bool = False) -> str:
    """The terminal's table: failing rows by default, every row that ran with ``show_all``."""
    return verdict_table(shown(comparison, show_all))


def _headline(comparison: Comparison, not_compared: str, failures: int = 0) -> str:
    n_reg, n_imp = len(comparison.regressions), len(comparison.improvements)
    n_skip, n_unconfirmed = len(comparison.not_run), sum(r.verdict == UNCONFIRMED for r in comparison.rows)
    runs = f", {failures} run failure(s)" if failures else ""
    if not_compared:
        head = f"**Nothing was compared with a baseline**: {markdown(not_compared)}."
        head += (f" ❌ **{n_reg} quality failure(s){runs}**" if n_reg or failures
                 else " Quality thresholds: ✅ pass")
        return head
    head = f"❌ **FAIL: {n_reg} failing row(s){runs}**" if n_reg or failures else "✅ **pass: no regressions**"
    extra = [f"{n_unconfirmed} unconfirmed (not failing)"] if n_unconfirmed else []
    extra += [f"{n_imp} improvement(s): baseline may be stale"] if n_imp else []
    extra += [f"{n_skip} metric(s) not run"] if n_skip else []
    return (head + (" · " + " · ".join(extra) if extra else "")
            + f" (baseline: {markdown(comparison.baseline_gpu)})")


def markdown_summary(comparison: Comparison | None, results: list[CaseResult], title: str,
                     not_compared: str = "", failures: Sequence[str] = ()) -> str:
    """The Markdown a CI job shows: the gate's headline and one line per failing (case, method),
    the failing rows, every other row inside ``<details>``, the notes (one line per case and
    method that did not run), then the results. ``not_compared`` says why no baseline judged;
    ``failures`` are lines that fail the run outside its rows. Every string from the session or
    the baseline is escaped (``report.escape``)."""
    parts = [f"## {markdown(title, TITLE_CHARS)}", ""]
    failed = [f"- ❌ {markdown(line)}" for line in failures]
    if comparison is not None:
        parts += [_headline(comparison, not_compared, len(failures)), "", *failed]
        parts += [""] if failed else []
        parts += markdown_verdicts(comparison)
        parts += [f"- {markdown(note)}" for note in notes_text(comparison)]
        parts += [""] if comparison.notes else []
    else:
        why = markdown(not_compared) if not_compared else "no baseline comparison in this run"
        parts += [f"**Nothing was compared**: {why}.", "", *failed] + ([""] if failed else [])
    if results:
        parts += ["### Results", "", markdown_block(session_tables(results)), ""]
    return "\n".join(parts)


class JobSummaryUnwritten(Exception):
    """``$GITHUB_STEP_SUMMARY`` could not be appended; the message is the one-line reason."""


def write_reports(
    report_dir: Path | str,
    comparison: Comparison | None,
    results: list[CaseResult],
    environment: dict[str, Any],
    *,
    title: str = "quantbench",
    not_compared: str = "",
    failures: Sequence[str] = (),
) -> dict[str, Path]:
    """Write ``summary.md``, ``comment.md`` (``report.digest``: the PR comment), ``comparison.json``
    and ``comparison.png`` into ``report_dir``, each atomically (``files.replace_bytes``: a
    temporary file renamed over the name, so a link there is replaced, never followed, and an
    interrupted write leaves no half of a report).

    The digest is then appended to ``$GITHUB_STEP_SUMMARY`` when that is set, so a GitHub
    Actions run shows it on the job page; ``JobSummaryUnwritten`` when it cannot be (the reports
    stay). ``OSError`` when the folder cannot be written. Returns name -> path of what was written.
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
        "comparison": comparison_dict(comparison) if comparison else None,
        "results": [r.to_dict() for r in results],
    }
    texts = {"comparison.json": json.dumps(data, indent=2, default=str) + "\n",
             "summary.md": markdown_summary(comparison, results, title, not_compared, failures)
             + (f"\n_{markdown(note)}_\n" if note else ""),
             "comment.md": digest(comparison, title, failures)}  # the PR comment; the job page's too
    for name, text in texts.items():
        replace_bytes(folder / name, text.encode("utf-8"))
        written[name] = folder / name
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as fh:
                fh.write(texts["comment.md"] + "\n")
        except OSError as exc:
            raise JobSummaryUnwritten(f"the job summary was not appended "
                                      f"(GITHUB_STEP_SUMMARY={step_summary}): {describe(exc)}; "
                                      f"the reports in {folder} are whole") from None
    return written


def save_reports(report_dir: Path, comparison: Comparison | None, results: list[CaseResult],
                 environment: dict[str, Any], **kwargs: Any) -> Written:
    """``write_reports`` that never raises for what a user's machine does: a folder that cannot be
    written (the reports are removed, so no earlier or half one is read as this verdict; exit 4),
    a job summary that cannot be appended (the reports stay; exit 4), Ctrl-C or SIGTERM while
    writing (the reports are removed; exit 2). Returns what was written, or why not
    (``Written.code``: the exit status that imposes)."""
    try:
        written = write_reports(report_dir, comparison, results, environment, **kwargs)
    except OSError as exc:
        clear_reports(report_dir)
        return Written.failed(f"reports not written to {report_dir}: {describe(exc)}")
    except JobSummaryUnwritten as exc:
        return Written.failed(str(exc))
    except KeyboardInterrupt:
        clear_reports(report_dir)
        return Written.failed(f"reports not written to {report_dir}: interrupted while writing them "
                              "(Ctrl-C or SIGTERM); none is left", interrupted=True)
    return Written((f"reports in {report_dir}: " + ", ".join(written),))


def publish(verdict: Any, session: Any, report_dir: Path, *, show_all: bool = False,
            before_outcome: Sequence[str] = (), flag: str = "--qb-all-verdicts",
            status: int = exits.OK, problems: Sequence[Written] = ()) -> Outcome:
    """The gate's verdict (``judge.gate.Verdict``) as terminal lines, with the reports written to
    ``report_dir`` when anything was judged: the context, the table (failing rows, or every row
    with ``show_all``), the reports, one line per failing (case, method), ``before_outcome``, and
    the closing line last (``flag``: the option that shows every row, named where rows are left
    out). ``status`` is pytest's own exit status and ``problems`` what else was left unwritten (a
    session record): the closing line and the outcome's ``code`` (``report.outcome.exit_status``)
    say the true outcome."""
    comparison = verdict.comparison
    problems = [p for p in problems if p.unwritten]
    lines = context_lines(verdict)
    not_compared = not_compared_text(verdict)
    if comparison is not None:
        cut = ([f"the session was interrupted (Ctrl-C or SIGTERM): only the {len(session.results)} "
                "case(s) it finished were judged"] if status == exits.INTERRUPTED else [])
        saved = save_reports(report_dir, comparison, session.results, session.environment,
                             title=f"quantbench: {session.gpu} / {session.model_source}",
                             not_compared=not_compared, failures=cut)
        lines += saved.said
        problems = [saved, *problems] if saved.unwritten else problems
        if not_compared:
            lines.append(f"nothing was compared with a baseline: {not_compared}")
        lines += terminal_lines(comparison, show_all, flag)
    outcome = Outcome([], status, verdict, tuple(problems))
    lines += before_outcome
    if verdict_outcome(verdict) or outcome.code != verdict.code:
        lines.append(closing_line(verdict, outcome.code, outcome.why))
    return replace(outcome, lines=lines)


def closing_line(verdict: Any, code: int, why: str) -> str:
    """The gate's last line: the verdict's outcome when the run ends as it says, else the exit
    status and its true cause (a passing verdict whose reports could not be written is no pass)."""
    said = verdict_outcome(verdict)
    if code == verdict.code and said:
        return said
    alone = said.removeprefix("gate: ")
    return f"gate: exit {code}: {why}" + (f" (the verdict alone: {alone})" if alone else "")


REPORTS = ("summary.md", "comment.md", "comparison.json", "comparison.png")


def clear_reports(report_dir: Path) -> None:
    """Remove the reports of an earlier verdict from ``report_dir``, so a run that judges nothing
    (or cannot write) never leaves a previous "no regressions" beside its own session file."""
    for name in REPORTS:
        try:
            (Path(report_dir) / name).unlink(missing_ok=True)
        except OSError:
            pass  # a folder that cannot be written: the caller's own check says so
