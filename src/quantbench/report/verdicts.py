"""The verdict rows as a reader in a hurry wants them: failing rows first and alone by default,
raw direction (``16.9 → 32.8 ms, 1.94× worse``), every line within 120 columns.

The terminal shows the rows that fail the gate (and, with ``--qb-all-verdicts``, every row that
ran), grouped under one line per (case, method); ``summary.md`` shows the same failing rows and
keeps the rest inside ``<details>``. Info rows explain a result and never enter the default view.
"""

from __future__ import annotations

import math

from quantbench.catalog import spec
from quantbench.judge.compare import FAILING, INFO, NOT_RUN, Comparison, Row
from quantbench.judge.reasons import NotRunNote
from quantbench.report.what_moved import (change_text, confirm_hint, terminal_hint, unconfirmed_lines, value_text,
                                          what_moved)
from quantbench.report.escape import markdown, markdown_block, plain
from quantbench.report.reasons import note_text, reason_text
from quantbench.report.tables import fmt_metric, fmt_value
from quantbench.results import WIDTH, Metric, percent

HEADER = ["metric", "unit", "before", "after", "change", "tolerance", "verdict"]
MARKDOWN_HEADER = ["case", "method", *HEADER, "reason"]
FAMILY_ORDER = ("gpu", "host", "wall", "memory", "quality", "info")


def _value(metric: Metric | None, *, noise: bool = True) -> str:
    if metric is None:
        return "-"
    if spec(metric.name).kind == "count":
        return value_text(metric.median, "count")  # exact: 1,029.34, not 1,029
    text = fmt_metric(metric) if noise else fmt_metric(metric).split(" ±")[0]
    return f"~{text}" if metric.approximate else text


def _change(row: Row) -> str:
    if row.baseline is None or row.current is None:
        return "-"
    if row.change is not None and not math.isfinite(row.change):
        return "worse" if row.change < 0 else "better"
    return change_text(row.baseline.median, row.current.median, row.baseline.higher_is_better)


def threshold_text(row: Row) -> str | None:
    """A judged quality row's limit in its direction (``max 0.500`` nats of KL, ``min 0.600``
    agreement), for the tolerance column; ``None`` for a row without one."""
    if row.threshold is None:
        return None
    bound = "min" if spec(row.metric).higher_is_better else "max"
    return f"{bound} {fmt_value(row.threshold)}"


def cells(row: Row, *, noise: bool = True) -> list[str]:
    """A row's cells under ``HEADER``: values in their own direction, the change in words, the
    tolerance (a quality row's threshold)."""
    tol = threshold_text(row) or ("-" if row.tolerance is None else percent(row.tolerance))
    return [row.metric, row.unit, _value(row.baseline, noise=noise),
            _value(row.current, noise=noise), _change(row), tol, row.verdict]


def ordered(rows: tuple[Row, ...] | list[Row]) -> list[Row]:
    """Rows by case and method, then by what they measure (GPU work, host work, wall clock,
    memory, quality, info), so each (case, method) reads as one block."""
    def key(row: Row) -> tuple[str, str, int, str]:
        family = spec(row.metric).family
        place = FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER)
        return (row.case_key, row.method, place, row.metric)

    return sorted(rows, key=key)


def shown(comparison: Comparison, show_all: bool = False) -> list[Row]:
    """The rows a view shows: by default those that fail the gate; all that ran with
    ``show_all`` (``not run`` rows are one note per case and method instead)."""
    if show_all:
        return ordered(comparison.ran)
    return ordered([r for r in comparison.rows if r.verdict in FAILING])


def _grouped(rows: list[Row], noise: bool) -> list[str]:
    table = [[plain(c) for c in cells(r, noise=noise)] for r in rows]
    widths = [max(len(c[i]) for c in [HEADER, *table]) for i in range(len(HEADER))]
    widths[0] += 2  # metric rows are indented under their (case, method) line
    fmt = lambda c: "  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip()  # noqa: E731
    out = [fmt(HEADER)]
    where = None
    for row, cell in zip(rows, table):
        if (row.case_key, row.method) != where:
            where = (row.case_key, row.method)
            out.append(plain(f"{row.case_key} {row.method}"))
        out.append(fmt(["  " + cell[0], *cell[1:]]))
    return out


def verdict_table(rows: list[Row]) -> str:
    """Fixed-width table under one header, a line per (case, method) above its rows; the
    intervals (``±x%``) are left out when they would pass 120 columns."""
    if not rows:
        return ""
    lines = _grouped(rows, noise=True)
    if max(map(len, lines)) > WIDTH:
        lines = _grouped(rows, noise=False)
    return "\n".join(line if len(line) <= WIDTH else line[: WIDTH - 1] + "…" for line in lines)


def terminal_lines(comparison: Comparison, show_all: bool = False,
                   flag: str = "--qb-all-verdicts") -> list[str]:
    """The verdict for the terminal: the table of what the view shows, the notes, the unconfirmed
    moves (worth a look, not failing), then one line per failing (case, method), last, where a
    reader in a hurry looks."""
    rows = shown(comparison, show_all)
    kept = {id(r) for r in rows}
    hidden = [r.verdict for r in comparison.rows if r.verdict not in (NOT_RUN, INFO) and id(r) not in kept]
    lines = verdict_table(rows).splitlines()
    if hidden:
        lines.append(f"{len(hidden)} other verdict(s) not shown ({', '.join(sorted(set(hidden)))}): "
                     f"{flag} shows every row")
    lines += note_lines(comparison)
    lines += unconfirmed_lines(comparison.rows) + terminal_hint(comparison.rows)
    return [plain(line) for line in lines + what_moved(comparison.rows)]  # the failures last, one line each


def note_lines(comparison: Comparison) -> list[str]:
    """The comparison's notes for the terminal: what did not run is one line per reason (a
    baseline of many methods against a session of one gave a line per case and method), the
    other notes as they are; each within 120 columns (a lost method's whole reason is in the
    session's own lines above the verdict)."""
    by_reason: dict[str, list[str]] = {}
    for row in comparison.not_run:
        pairs = by_reason.setdefault(reason_text(row), [])
        if f"{row.case_key} {row.method}" not in pairs:
            pairs.append(f"{row.case_key} {row.method}")
    lines = [f"not run ({reason}): {len(pairs)} case/method pair(s): {', '.join(pairs)}"
             for reason, pairs in by_reason.items()]
    lines += [note_text(n) for n in comparison.notes if not isinstance(n, NotRunNote)]
    return [text if len(text) <= WIDTH else text[: WIDTH - 1] + "…" for text in lines]


def markdown_table(rows: list[Row]) -> str:
    """A Markdown table of ``rows`` with their reasons, every cell escaped."""
    out = ["| " + " | ".join(MARKDOWN_HEADER) + " |", "|" + "---|" * len(MARKDOWN_HEADER)]
    out += ["| " + " | ".join(markdown(c) for c in [r.case_key, r.method, *cells(r), reason_text(r)]) + " |"
            for r in rows]
    return "\n".join(out)


def markdown_verdicts(comparison: Comparison) -> list[str]:
    """``summary.md``'s verdict: one line per failing or unconfirmed (case, method), the failing
    rows, then every other row that ran inside ``<details>``."""
    moved = what_moved(comparison.rows) + unconfirmed_lines(comparison.rows)
    parts = [f"- {markdown(line)}" for line in moved]
    hint = confirm_hint(comparison.rows)
    if hint:
        parts += ["", markdown(hint[0]), "", markdown_block(hint[1], "")]
    parts += [""] if moved else []
    failing = shown(comparison)
    if failing:
        parts += [markdown_table(failing), ""]
    rest = [r for r in ordered(comparison.ran) if r.verdict not in FAILING]
    if rest:
        verdicts = sorted({r.verdict for r in rest})
        parts += [f"<details><summary>{len(rest)} other verdict(s): {', '.join(verdicts)}"
                  "</summary>", "", markdown_table(rest), "", "</details>", ""]
    return parts
