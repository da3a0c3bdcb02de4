"""What the comparison chart shows, decided before anything is drawn: its bars (every metric this
session measured, with its verdict and tolerance), its panels (one per case and what the metrics
measure), their layout in lines, the title (the verdict and one line per failing case and
method) and the footer (what is not drawn). ``report.chart`` draws them with matplotlib.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from quantbench.catalog import SPECS, spec
from quantbench.judge.compare import (
    FAIL, IMPROVEMENT, INFO, NOT_RUN, PASS, REGRESSION, UNCONFIRMED, WITHIN_NOISE, Comparison,
)
from quantbench.report.what_moved import what_moved
from quantbench.report.escape import chart_text
from quantbench.results import CaseResult, Metric

NO_BASELINE = "no baseline"
VERDICT_COLOURS: dict[str, str] = {
    REGRESSION: "#d62728", WITHIN_NOISE: "#f0a202", PASS: "#2ca02c", IMPROVEMENT: "#1f77b4",
    INFO: "#a3abb3", NO_BASELINE: "#c6b3e3", FAIL: "#8c1c13", UNCONFIRMED: "#e377c2",
}
# Panels by what the metrics measure, in reading order, with their titles; the first four gated.
FAMILIES = {"gpu": "GPU work", "host": "host work", "wall": "wall clock", "memory": "memory",
            "quality": "quality", "info": "info (not gated)"}
GATED_FAMILIES = ("gpu", "host", "wall", "memory")
TITLE_LINES = 8  # failing (case, method) lines in the title; more are counted
SLOT_IN = 0.34  # figure inches per metric slot (a baseline bar and a new bar)
PANEL_PAD_SLOTS = 3  # room for a panel's y axis, in slots
TITLE_CHAR_IN = 0.08  # figure inches per character of a 10 pt panel title (0.075 measured)
MAX_LINE_SLOTS = 48  # panels of one case wrap onto another line past this width


@dataclass(frozen=True)
class Bar:
    """One metric of one method in one case that this session measured."""

    case_key: str
    family: str  # catalog's: what the metric measures (gpu, host, wall, memory, quality, info)
    method: str
    metric: str
    unit: str
    current: Metric
    baseline: Metric | None
    verdict: str
    change: float | None = None
    tolerance: float | None = None
    threshold: float | None = None  # a judged quality metric's limit

    @property
    def colour(self) -> str:
        return VERDICT_COLOURS.get(self.verdict, VERDICT_COLOURS[INFO])

    @property
    def reference(self) -> Metric | None:
        """What the new value is drawn beside: the baseline, else a quality metric's threshold."""
        if self.baseline is not None or self.threshold is None:
            return self.baseline
        return Metric.exact(self.metric, self.unit, self.threshold,
                            higher_is_better=self.current.higher_is_better)

    def ratios(self) -> tuple[tuple[float, float, float], tuple[float, float, float]] | None:
        """``(median, low, high)`` of the reference and of the new value, each divided by the
        reference's median; ``None`` without a reference or when its median is 0."""
        reference = self.reference
        if reference is None or reference.median == 0:
            return None
        ref = reference.median
        scale = lambda m: (m.median / ref, m.low / ref, m.high / ref)  # noqa: E731
        return scale(reference), scale(self.current)


def family_order() -> list[str]:
    """The panels' families: ``FAMILIES``, then any other the catalog names."""
    return list(dict.fromkeys([*FAMILIES, *(s.family for s in SPECS.values())]))


def _natural(text: str) -> list[Any]:
    """Sort key that puts ``prefill-128`` before ``prefill-1024``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def chart_bars(comparison: Comparison | None, results: list[CaseResult]) -> list[Bar]:
    """Every metric this session measured: the compared rows that ran, with their verdict, then
    measured metrics no baseline holds (verdict ``no baseline``). ``not run`` rows are left out."""
    bars: list[Bar] = []
    seen: set[tuple[str, str, str]] = set()
    for row in comparison.rows if comparison else ():
        if row.verdict == NOT_RUN or row.current is None:
            continue
        bars.append(Bar(row.case_key, spec(row.metric).family, row.method, row.metric, row.unit,
                        row.current, row.baseline, row.verdict, row.change, row.tolerance,
                        row.threshold))
        seen.add((row.case_key, row.method, row.metric))
    for result in results:
        for name, metric in result.metrics.items():
            if (result.case_key, result.method, name) not in seen:
                bars.append(Bar(result.case_key, spec(name).family, result.method, name,
                                metric.unit, metric, None, NO_BASELINE))
    return bars


def uses_ratio(bars: list[Bar]) -> bool:
    """A panel mixing units, or a gated one with a baseline to divide by, shows now / baseline
    (against its tolerance band); one of a single unit shows values."""
    gated = any(b.family in GATED_FAMILIES and b.ratios() is not None for b in bars)
    return gated or len({b.unit for b in bars}) > 1


def panels(
    bars: list[Bar], method_order: list[str] | None = None
) -> dict[tuple[str, str], list[Bar]]:
    """``(case, family) -> bars`` in reading order: cases naturally sorted, families in
    ``family_order``, methods in ``method_order`` (else first seen), metrics in catalog order. Bars
    that cannot be drawn (no usable baseline in a ratio panel) are dropped; so is a panel left
    empty."""
    kinds = family_order()
    methods = list(dict.fromkeys([*(method_order or []), *(b.method for b in bars)]))
    metrics = list(SPECS)
    place = lambda seq, item: seq.index(item) if item in seq else len(seq)  # noqa: E731
    grouped: dict[tuple[str, str], list[Bar]] = {}
    for bar in bars:
        grouped.setdefault((bar.case_key, bar.family), []).append(bar)
    out: dict[tuple[str, str], list[Bar]] = {}
    for key in sorted(grouped, key=lambda k: (_natural(k[0]), place(kinds, k[1]), k[1])):
        items = grouped[key]
        if uses_ratio(items):
            items = [b for b in items if b.ratios() is not None]
        items.sort(key=lambda b: (methods.index(b.method), place(metrics, b.metric), b.metric))
        if items:
            out[key] = items
    return out


def lines(
    widths: dict[tuple[str, str], int], max_slots: int = MAX_LINE_SLOTS
) -> list[list[tuple[str, str]]]:
    """Lay panels (``key -> width in slots``) out in lines: one case per line, wrapping a case's
    panels onto a further line when the next would pass ``max_slots``."""
    out: list[list[tuple[str, str]]] = []
    used = 0
    for key, width in widths.items():
        if out and out[-1][0][0] == key[0] and used + width <= max_slots:
            out[-1].append(key)
            used += width
        else:
            out.append([key])
            used = width
    return out


def headline(comparison: Comparison | None) -> str:
    """The verdict in one line: counts per verdict of the metrics that ran, then one line per
    failing (case, method) (at most ``TITLE_LINES``; the rest counted)."""
    if comparison is None:
        return "No baseline comparison in this run: values only"
    ran = comparison.ran
    order = (REGRESSION, FAIL, UNCONFIRMED, WITHIN_NOISE, IMPROVEMENT, PASS, INFO)
    counts = [(v, sum(r.verdict == v for r in ran)) for v in order]
    plural = {REGRESSION: "regressions", IMPROVEMENT: "improvements"}
    parts = [f"{n} {plural.get(v, v) if n != 1 else v}" for v, n in counts if n]
    status = "FAIL" if comparison.regressions else "PASS"
    against = f"the {comparison.baseline_gpu} baseline" if comparison.baseline_gpu else "quality thresholds"
    moved = what_moved(comparison.rows)
    if len(moved) > TITLE_LINES:
        moved = moved[:TITLE_LINES - 1] + [f"… and {len(moved) - TITLE_LINES + 1} more failing"]
    return "\n".join([f"{status} against {against}: " + " · ".join(parts), *moved])


def footer(
    comparison: Comparison | None, bars: list[Bar], drawn: dict[tuple[str, str], list[Bar]]
) -> str:
    """What is not drawn, so that a missing bar is never mistaken for a missing measurement."""
    n_drawn = sum(len(v) for v in drawn.values())
    parts = []
    if comparison is not None and comparison.not_run:
        parts.append(f"{len(comparison.not_run)} baseline metric(s) not run in this session")
    if len(bars) > n_drawn:
        parts.append(f"{len(bars) - n_drawn} metric(s) with no usable baseline in a mixed-unit panel")
    text = ("Not drawn: " + "; ".join(parts) + ".") if parts else "Every measured metric is drawn."
    return text + ("\nError bars: 95 % interval of the median (▲: cut at the panel's top)."
                   " Labels: now / baseline. Green band: 1 ± the metric's tolerance.")


def title(key: tuple[str, str]) -> str:
    """A panel's title: ``<mode>/<case> · <what it measures>``, as chart text (a long case key
    is cut, so it cannot widen the figure past what matplotlib draws)."""
    return chart_text(f"{key[0]} · {FAMILIES.get(key[1], key[1])}", limit=80)


def panel_slots(key: tuple[str, str], bars: list[Bar]) -> int:
    """A panel's width in slots: one per bar plus its y axis, and at least its title's width."""
    return PANEL_PAD_SLOTS + max(len(bars), math.ceil(len(title(key)) * TITLE_CHAR_IN / SLOT_IN))
