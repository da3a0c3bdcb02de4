"""What a same-host A/B could have seen: each watched metric's interval and smallest detectable change.

Formatting only: the paired tests come from ``ab.detectable.detectable``. The table goes to the terminal
and its figures into ``comparison.json``; how ``--pairs auto`` stopped is a note of the comparison
(``ab.detectable.auto_notes``, said by ``report.ab_text``), so the terminal and ``summary.md`` both
carry it.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any, Sequence

from quantbench.results import percent
from quantbench.ab.detectable import Detectable
from quantbench.report.tables import render
from quantbench.results import WIDTH

HEADER = ["case", "method", "metric", "CI ±", "MDE", "tolerance", "interval"]


def _halfwidth(row: Detectable) -> float:
    """The half-width at the family's level as a relative change, exp(half-width) − 1."""
    return math.expm1(row.halfwidth)


def share(fraction: float) -> str:
    """A relative change as a percent with one decimal, ``inf`` when it has no bound."""
    return f"{fraction:.1%}" if math.isfinite(fraction) else "inf"


def detectable_table(found: Sequence[Detectable]) -> str:
    """One line per watched metric: its half-width and minimum detectable effect (80 % power) at
    the level Holm's correction leaves one metric (5 % / m) against its tolerance; noisier last."""
    rows = [[p.case_key, p.method, p.metric, f"±{share(_halfwidth(p))}", share(p.mde),
             f"±{percent(p.tolerance)}", "within" if p.enough else "WIDER than tolerance"]
            for p in sorted(found, key=lambda p: (not p.enough, p.case_key, p.method, p.metric))]
    pairs, tests = (found[0].test.k, found[0].tests) if found else (0, 0)
    title = (f"smallest detectable change after {pairs} pairs (CI and 80%-power MDE at 5%/{tests}: "
             f"Holm over {tests} tests; counters exact):")
    return title + "\n" + render(rows, HEADER)


def detectable_records(found: Sequence[Detectable]) -> list[dict[str, Any]]:
    """The same figures for ``comparison.json``, as fractions."""
    return [{"case_key": p.case_key, "method": p.method, "metric": p.metric, "pairs": p.test.k,
             "halfwidth": _halfwidth(p), "mde": p.mde, "alpha": p.alpha,
             "tolerance": p.tolerance, "within_tolerance": p.enough} for p in found]


def noisy_line(found: Sequence[Detectable]) -> str | None:
    """One progress line naming the metrics still wider than their tolerance, or ``None``."""
    noisy = [p for p in found if not p.enough]
    if not noisy:
        return None
    names = ", ".join(f"{p.method} {p.metric} ±{share(_halfwidth(p))}" for p in noisy)
    line = (f"quantbench ab: after {noisy[0].test.k} pairs, {len(noisy)} metric(s) wider than "
            f"their tolerance at 5%/{noisy[0].tests}: {names}")
    return textwrap.shorten(line, WIDTH, placeholder=" …")
