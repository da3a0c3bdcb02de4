"""The comparison chart: the picture in which a reader finds the verdict of a gate run.

Only what this session measured is drawn; metrics the baseline holds but the session did not run
are counted in the footer, not drawn. There is one panel per (case, metric kind), the kinds taken
from ``catalog`` in its order, so a new kind (device time, say) gets its own panel with no change
here. In a panel the methods head groups of bars, one pair per metric: the baseline (hollow, its
95 % interval as an error bar) beside the new value (coloured by its verdict, its own interval).
A panel whose metrics share one unit shows values in that unit; one that mixes units shows each
metric as current / baseline, with the baseline at 1.0. matplotlib is imported only to draw.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantbench.catalog import SPECS, spec
from quantbench.judge.compare import (
    FAIL, IMPROVEMENT, INFO, NOT_RUN, PASS, REGRESSION, UNCONFIRMED, WITHIN_NOISE, Comparison,
)
from quantbench.results import CaseResult, Metric

NO_BASELINE = "no baseline"
VERDICT_COLOURS: dict[str, str] = {
    REGRESSION: "#d62728", WITHIN_NOISE: "#f0a202", PASS: "#2ca02c", IMPROVEMENT: "#1f77b4",
    INFO: "#a3abb3", NO_BASELINE: "#c6b3e3", FAIL: "#8c1c13", UNCONFIRMED: "#e377c2",
}
SLOT_IN = 0.34  # figure inches per metric slot (a baseline bar and a new bar)
PANEL_PAD_SLOTS = 3  # room for a panel's y axis, in slots
TITLE_CHAR_IN = 0.08  # figure inches per character of a 10 pt panel title (0.075 measured)
MAX_LINE_SLOTS = 48  # panels of one case wrap onto another line past this width
LINE_IN = 3.4  # figure inches per line of panels
HEADROOM = 1.3  # y axis above the tallest drawn interval, for the percent labels


@dataclass(frozen=True)
class Bar:
    """One metric of one method in one case that this session measured."""

    case_key: str
    kind: str
    method: str
    metric: str
    unit: str
    current: Metric
    baseline: Metric | None
    verdict: str
    change: float | None = None

    @property
    def colour(self) -> str:
        return VERDICT_COLOURS.get(self.verdict, VERDICT_COLOURS[INFO])

    def ratios(self) -> tuple[tuple[float, float, float], tuple[float, float, float]] | None:
        """``(median, low, high)`` of the baseline and of the new value, each divided by the
        baseline's median; ``None`` without a baseline or when its median is 0."""
        if self.baseline is None or self.baseline.median == 0:
            return None
        ref = self.baseline.median
        scale = lambda m: (m.median / ref, m.low / ref, m.high / ref)  # noqa: E731
        return scale(self.baseline), scale(self.current)


def kind_order() -> list[str]:
    """The metric kinds in the order the catalog first names them."""
    return list(dict.fromkeys(s.kind for s in SPECS.values()))


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
        bars.append(Bar(row.case_key, spec(row.metric).kind, row.method, row.metric, row.unit,
                        row.current, row.baseline, row.verdict, row.change))
        seen.add((row.case_key, row.method, row.metric))
    for result in results:
        for name, metric in result.metrics.items():
            if (result.case_key, result.method, name) not in seen:
                bars.append(Bar(result.case_key, spec(name).kind, result.method, name, metric.unit,
                                metric, None, NO_BASELINE))
    return bars


def uses_ratio(bars: list[Bar]) -> bool:
    """A panel mixing units shows current / baseline; one unit shows values."""
    return len({b.unit for b in bars}) > 1


def panels(
    bars: list[Bar], method_order: list[str] | None = None
) -> dict[tuple[str, str], list[Bar]]:
    """``(case, kind) -> bars`` in reading order: cases naturally sorted, kinds in catalog order,
    methods in ``method_order`` (else first seen), metrics in catalog order. Bars that cannot be
    drawn (no usable baseline in a ratio panel) are dropped; so is a panel left empty."""
    kinds = kind_order()
    methods = list(dict.fromkeys([*(method_order or []), *(b.method for b in bars)]))
    metrics = list(SPECS)
    place = lambda seq, item: seq.index(item) if item in seq else len(seq)  # noqa: E731
    grouped: dict[tuple[str, str], list[Bar]] = {}
    for bar in bars:
        grouped.setdefault((bar.case_key, bar.kind), []).append(bar)
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
    """The verdict in one line: counts per verdict of the metrics that ran."""
    if comparison is None:
        return "No baseline comparison in this run: values only"
    ran = comparison.ran
    order = (REGRESSION, FAIL, WITHIN_NOISE, IMPROVEMENT, PASS, INFO)
    counts = [(v, sum(r.verdict == v for r in ran)) for v in order]
    plural = {REGRESSION: "regressions", IMPROVEMENT: "improvements"}
    parts = [f"{n} {plural.get(v, v) if n != 1 else v}" for v, n in counts if n]
    status = "FAIL" if comparison.regressions else "PASS"
    against = f"the {comparison.baseline_gpu} baseline" if comparison.baseline_gpu else "quality thresholds"
    return f"{status} against {against}: " + " · ".join(parts)


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
                   " Percent labels: change against the baseline, + = better.")


def title(key: tuple[str, str]) -> str:
    """A panel's title: ``<mode>/<case> · <kind>``."""
    return f"{key[0]} · {key[1]}"


def panel_slots(key: tuple[str, str], bars: list[Bar]) -> int:
    """A panel's width in slots: one per bar plus its y axis, and at least its title's width."""
    return PANEL_PAD_SLOTS + max(len(bars), math.ceil(len(title(key)) * TITLE_CHAR_IN / SLOT_IN))


def _positions(bars: list[Bar]) -> tuple[list[float], list[tuple[str, float, float]]]:
    """x of each bar's slot, and ``(method, centre, last x)`` of each method's group."""
    xs: list[float] = []
    starts: dict[str, float] = {}
    x = 0.0
    for i, bar in enumerate(bars):
        if i and bar.method != bars[i - 1].method:
            x += 0.6
        starts.setdefault(bar.method, x)
        xs.append(x)
        x += 1.0
    ends = {bar.method: x for bar, x in zip(bars, xs)}
    return xs, [(m, (start + ends[m]) / 2, ends[m]) for m, start in starts.items()]


Triple = tuple[float, float, float]


def _triples(bar: Bar, ratio: bool) -> tuple[Triple | None, Triple]:
    """``(median, low, high)`` of the baseline (``None`` without one) and of the new value, as
    values or, in a ratio panel, divided by the baseline's median."""
    if ratio:
        pair = bar.ratios()
        if pair is None:
            raise ValueError(f"{bar.metric} of {bar.method} has no baseline to divide by")
        return pair
    as_triple = lambda m: (m.median, m.low, m.high)  # noqa: E731
    return (None if bar.baseline is None else as_triple(bar.baseline)), as_triple(bar.current)


def y_limit(triples: list[tuple[Triple | None, Triple]], ratio: bool) -> float:
    """Top of a panel's y axis: every interval when they are short, else cut at twice the tallest
    median, so that one wide interval does not flatten every bar (a cut one gets a marker)."""
    medians = [t[0] for pair in triples for t in pair if t is not None] + ([1.0] if ratio else [])
    highs = [t[2] for pair in triples for t in pair if t is not None]
    peak = max(medians, default=0.0)
    return (min(max(highs, default=peak), 2 * peak) or 1.0) * HEADROOM


def _draw_panel(ax: Any, key: tuple[str, str], bars: list[Bar]) -> None:
    ratio = uses_ratio(bars)
    xs, groups = _positions(bars)
    triples = [_triples(bar, ratio) for bar in bars]
    top = y_limit(triples, ratio)
    for x, bar, (base, cur) in zip(xs, bars, triples):
        at_cur = x if base is None else x + 0.2
        drawn = [(at_cur, cur, dict(color=bar.colour, edgecolor="#333333", linewidth=0.5))]
        if base is not None:
            drawn.append((x - 0.2, base, dict(color="white", edgecolor="#59636e", hatch="///",
                                              linewidth=0.8)))
        for at, (mid, low, high), style in drawn:
            ax.bar(at, mid, 0.4, **style)
            ax.errorbar(at, mid, [[mid - low], [high - mid]], fmt="none", ecolor="#222222",
                        capsize=2, linewidth=0.9)
            if high > top:
                ax.annotate("▲", (at, top), xytext=(0, -1), textcoords="offset points",
                            ha="center", va="top", fontsize=6)
        if bar.verdict in (REGRESSION, WITHIN_NOISE, IMPROVEMENT) and bar.change is not None:
            y = min(cur[2], top / HEADROOM)
            ax.annotate(f"{bar.change * 100:+.0f}%", (at_cur, y), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", rotation=90,
                        fontsize=7, color=bar.colour, fontweight="bold")
    if ratio:
        ax.axhline(1.0, color="#333333", linestyle="--", linewidth=0.8)
    ax.set_ylabel("now / baseline" if ratio else bars[0].unit, fontsize=8)
    ax.set_ylim(0, top)
    ax.set_xlim(-0.7, xs[-1] + 0.7)
    ax.set_xticks(xs, [spec(b.metric).label for b in bars], rotation=90, fontsize=8)
    for _, _, end in groups[:-1]:
        ax.axvline(end + 0.8, color="#c0c4c8", linewidth=0.8)
    methods = ax.secondary_xaxis("top")
    methods.set_xticks([c for _, c, _ in groups], [m for m, _, _ in groups], fontsize=9,
                       fontweight="bold")
    methods.tick_params(length=0)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title(title(key), fontsize=10)


def _legend_handles(bars: list[Bar]) -> list[Any]:
    from matplotlib.patches import Patch

    present = {b.verdict for b in bars}
    handles = []
    if any(b.baseline is not None for b in bars):
        handles.append(Patch(facecolor="white", edgecolor="#59636e", hatch="///", label="baseline"))
    handles += [Patch(facecolor=c, edgecolor="#333333", label=v)
                for v, c in VERDICT_COLOURS.items() if v in present]
    return handles


def write_chart(path: Path, comparison: Comparison | None, results: list[CaseResult]) -> str | None:
    """Draw the chart into ``path`` (PNG). Returns a one-line note instead of raising when
    matplotlib is missing or nothing can be drawn."""
    bars = chart_bars(comparison, results)
    drawn = panels(bars, [r.method for r in results])
    if not drawn:
        return "comparison.png not written: no measured metrics to draw"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "comparison.png not written: matplotlib is not installed (pip install .[report])"
    widths = {key: panel_slots(key, items) for key, items in drawn.items()}
    layout = lines(widths)
    span = max(sum(widths[k] for k in line) for line in layout)
    fig = plt.figure(figsize=(max(span * SLOT_IN, 7.0), 0.8 + LINE_IN * len(layout) + 0.5),
                     layout="constrained")
    head, *rows, foot = fig.subfigures(len(layout) + 2, 1,
                                       height_ratios=[0.8, *[LINE_IN] * len(layout), 0.5])
    bad = comparison is not None and bool(comparison.regressions)
    head.suptitle(headline(comparison), fontsize=12, fontweight="bold",
                  color=VERDICT_COLOURS[REGRESSION] if bad else "#222222")
    handles = _legend_handles([b for items in drawn.values() for b in items])
    head.legend(handles=handles, loc="center", ncols=len(handles), fontsize=9, frameon=False)
    for sub, line in zip(rows, layout):
        used = sum(widths[k] for k in line)
        ratios = [widths[k] for k in line] + ([span - used] if span > used else [])
        axes = sub.subplots(1, len(ratios), width_ratios=ratios, squeeze=False)[0]
        for ax, key in zip(axes, line):
            _draw_panel(ax, key, drawn[key])
        for ax in axes[len(line):]:
            ax.set_axis_off()
    foot.text(0.01, 0.5, footer(comparison, bars, drawn), fontsize=8, va="center", color="#444444")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None
