"""What a failure says in one line: per failing (case, method), its worst gated figure in raw
direction (``decode_tps 70.2 → 54.5 tok/s, 1.29× worse, tolerance 10%``) and what moved.

The (case, method) groups, their lead rows and the family that moved are ``judge.diagnose``'s;
this module puts them into words. Every line fits in ``WIDTH`` columns: what does not fit is
dropped from its end, the figure itself last.
"""

from __future__ import annotations

import math
from typing import Iterable

from quantbench.report.ab_command import ab_command_for
from quantbench.catalog import spec
from quantbench.judge.compare import UNCONFIRMED, Row
from quantbench.judge.diagnose import Diagnosis, diagnose
from quantbench.judge.evidence import MIN_WALL_SESSIONS
from quantbench.report.reasons import reason_text
from quantbench.results import WIDTH, fmt_value, percent

MOVED = {"gpu": "GPU work", "host": "host work", "memory": "memory", "quality": "quality",
         "wall": "wall clock (no device data)", "info": "an ungated figure"}


def moved(d: Diagnosis) -> str:
    """What moved, in words: GPU work, host work, only the wall clock, memory, quality."""
    if d.wall_only:
        return "only the wall clock"  # device time and work counters held
    return MOVED.get(d.family, d.family)


def value_text(value: float, kind: str) -> str:
    """A figure as a reader wants it: counts exactly enough to see a change (1,029.34), the rest
    to three significant figures."""
    if kind == "count":
        return f"{value:,.6g}" if value >= 100 else f"{value:.4g}"
    return fmt_value(value)


def change_text(before: float, after: float, higher_is_better: bool) -> str:
    """The change in raw direction: ``1.94× worse``, ``3.5% better``, ``worse`` (from or to 0)."""
    if before == after:
        return "unchanged"
    worse = after < before if higher_is_better else after > before
    word = "worse" if worse else "better"
    low, high = sorted((abs(before), abs(after)))
    if low == 0 or not math.isfinite(high):
        return word
    ratio = high / low
    if ratio >= 1.1:
        return f"{ratio:.2f}× {word}"
    return f"{(ratio - 1) * 100:#.2g}".rstrip(".") + f"% {word}"  # 1.0%, 0.76%, 3.5%


def figure(row: Row, *, tolerance: bool = True) -> str:
    """``metric before → after unit, change, tolerance``; a quality row gives its threshold."""
    kind = spec(row.metric).kind
    if kind == "quality" and row.current is not None:
        return reason_text(row).removeprefix(f"{row.method} ")
    if row.baseline is None or row.current is None:
        return f"{row.metric}: {reason_text(row)}"
    before, after = row.baseline.median, row.current.median
    text = (f"{row.metric} {value_text(before, kind)} → {value_text(after, kind)} {row.unit}".rstrip()
            + f", {change_text(before, after, row.baseline.higher_is_better)}")
    if tolerance and row.tolerance is not None:
        text += f", tolerance {percent(row.tolerance)}"
    return text


def _fit(variants: list[str], width: int = WIDTH) -> str:
    """The first variant within ``width`` columns, else the last cut to it."""
    for text in variants:
        if len(text) <= width:
            return text
    return variants[-1][: width - 1] + "…"


def line(d: Diagnosis, prefix: str = "FAIL") -> str:
    """``FAIL case method — what moved: lead figure (+N more)`` within ``WIDTH`` columns."""
    where = f"{prefix} {d.case_key} {d.method} — {moved(d)}: "
    more = f" (+{len(d.rows) - 1} more)" if len(d.rows) > 1 else ""
    full, short = figure(d.lead), figure(d.lead, tolerance=False)
    return _fit([f"{where}{full}{more}", f"{where}{full}", f"{where}{short}"])


def what_moved(rows: Iterable[Row]) -> list[str]:
    """One line per (case, method) that failed the gate, saying what moved, within 120 columns."""
    return [line(d) for d in diagnose(rows)]


def unconfirmed_lines(rows: Iterable[Row]) -> list[str]:
    """One line per (case, method) with an unconfirmed wall-clock move: worth a look, not a failure."""
    return [line(d, "unconfirmed") for d in diagnose(rows, (UNCONFIRMED,))]


def confirm_hint(rows: Iterable[Row]) -> tuple[str, str] | None:
    """What the unconfirmed moves share, said once: why they do not fail, and the same-host A/B
    that would confirm them all (every such case and method in one command); ``None`` if none."""
    found = diagnose(rows, (UNCONFIRMED,))
    if not found:
        return None
    why = (f"not failing: too few baseline sessions to know this GPU's wall-clock spread "
           f"(gated from {MIN_WALL_SESSIONS}); to confirm on one host:")
    return why, ab_command_for([(d.case_key, d.method) for d in found])


def terminal_hint(rows: Iterable[Row]) -> list[str]:
    """``confirm_hint`` for the terminal: the command as a shell continuation, each line within
    120 columns and still pasteable."""
    hint = confirm_hint(rows)
    if hint is None:
        return []
    command, _, pytest_args = hint[1].partition(" -- ")
    lines = [f"  {hint[0]}", f"  {command} -- \\"]
    head, k, where = pytest_args.partition(" -k ")
    if k and len(pytest_args) + 4 > WIDTH:  # the -k of four cases alone made a 142-column line
        return [*lines, f"    {head} \\", f"    -k {where}"]
    return [*lines, f"    {pytest_args}"]
