"""What a same-host A/B could have seen: each watched metric's interval and smallest detectable change.

Formatting only: the paired tests come from ``judge.paired.power``. The table goes to the terminal
and its figures into ``comparison.json``; the lines on how ``--pairs auto`` stopped become notes of
the comparison, so the terminal and ``summary.md`` both carry them.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any, Sequence

from quantbench.judge.compare import percent
from quantbench.judge.paired import Power
from quantbench.report.tables import render
from quantbench.results import WIDTH

HEADER = ["case", "method", "metric", "95% CI ±", "MDE", "tolerance", "interval"]


def _halfwidth(row: Power) -> float:
    """The 95 % half-width as a relative change, exp(half-width) − 1."""
    return math.expm1(row.test.halfwidth)


def _pct(fraction: float) -> str:
    return f"{fraction:.1%}" if math.isfinite(fraction) else "inf"


def power_table(powers: Sequence[Power]) -> str:
    """One line per watched metric: its 95 % half-width and minimum detectable effect (5 %
    two-sided, 80 % power) against its tolerance; noisier ones last."""
    rows = [[p.case_key, p.method, p.metric, f"±{_pct(_halfwidth(p))}", _pct(p.test.mde),
             f"±{percent(p.tolerance)}", "within" if p.enough else "WIDER than tolerance"]
            for p in sorted(powers, key=lambda p: (not p.enough, p.case_key, p.method, p.metric))]
    pairs = powers[0].test.k if powers else 0
    title = (f"smallest detectable change after {pairs} pairs (MDE at 5% two-sided, 80% power; "
             "counters are judged exactly):")
    return title + "\n" + render(rows, HEADER)


def power_records(powers: Sequence[Power]) -> list[dict[str, Any]]:
    """The same figures for ``comparison.json``, as fractions."""
    return [{"case_key": p.case_key, "method": p.method, "metric": p.metric, "pairs": p.test.k,
             "halfwidth": _halfwidth(p), "mde": p.test.mde, "tolerance": p.tolerance,
             "within_tolerance": p.enough} for p in powers]


def noisy_line(powers: Sequence[Power]) -> str | None:
    """One progress line naming the metrics still wider than their tolerance, or ``None``."""
    noisy = [p for p in powers if not p.enough]
    if not noisy:
        return None
    names = ", ".join(f"{p.method} {p.metric} ±{_pct(_halfwidth(p))}" for p in noisy)
    line = (f"quantbench ab: after {noisy[0].test.k} pairs, {len(noisy)} metric(s) wider than "
            f"their tolerance: {names}")
    return textwrap.shorten(line, WIDTH, placeholder=" …")


def auto_notes(powers: Sequence[Power], pairs: int, maximum: int) -> list[str]:
    """How ``--pairs auto`` stopped: every watched metric precise enough, or the maximum reached
    with the metrics still too noisy, one line each."""
    if not powers:
        return [f"pairs auto: stopped after {pairs} pairs: no timed metric to watch (counters "
                "are judged exactly)"]
    noisy = [p for p in powers if not p.enough]
    if not noisy:
        return [f"pairs auto: stopped after {pairs} pairs: every watched metric's 95% interval "
                f"is within its tolerance ({len(powers)} metric(s))"]
    lines = [f"pairs auto: the maximum (--max-pairs {maximum}) stopped it; {len(noisy)} metric(s) "
             "still wider than their tolerance:"]
    lines += [f"  {p.case_key} {p.method} {p.metric}: 95% CI ±{_pct(_halfwidth(p))}, MDE "
              f"{_pct(p.test.mde)}, tolerance ±{percent(p.tolerance)}" for p in noisy]
    return lines
