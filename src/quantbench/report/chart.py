"""The comparison chart: the picture in which a reader finds the verdict of a gate run.

Only what this session measured is drawn; metrics the baseline holds but the session did not run
are counted in the footer, not drawn. The title gives the verdict and one line per failing (case,
method) (``report.what_moved``). There is one panel per (case, what the metrics measure): GPU work,
host work, wall clock, memory, quality, info (``catalog``'s families, in that order). In a panel
the methods head groups of bars, one pair per metric: the baseline (hollow, its 95 % interval as
an error bar; for a judged quality metric its threshold, dotted) beside the new value (coloured by
its verdict, its own interval). A gated panel with a baseline shows each metric as now / baseline, the baseline at 1.0, over a band of its tolerance
(1 ± tolerance), so a bar past its band is a change that matters; other panels show values when
their metrics share a unit, else ratios. matplotlib is imported only to draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quantbench.catalog import spec
from quantbench.judge.compare import IMPROVEMENT, REGRESSION, UNCONFIRMED, WITHIN_NOISE, Comparison
from quantbench.report.chart_panels import (
    SLOT_IN, VERDICT_COLOURS, Bar, chart_bars, footer, headline, lines, panel_slots, panels, title,
    uses_ratio,
)
from quantbench.report.escape import chart_text
from quantbench.report.figure import pyplot, save_png
from quantbench.results import CaseResult

LINE_IN = 3.4  # figure inches per line of panels
HEADROOM = 1.3  # y axis above the tallest drawn interval, for the labels
HEAD_IN = 0.8  # figure inches for the verdict line and the legend
MOVED_LINE_IN = 0.19  # and per failing (case, method) line under it (9 pt)
MOVED_CHAR_IN = 0.075  # figure inches per character of such a line (monospace 9 pt)
BAND_COLOUR, BAND_EDGE = "#dff0d8", "#3c8d3c"
BASELINE_HATCH, THRESHOLD_HATCH = "///", "..."  # the hollow bar a new value stands beside


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
    return (None if bar.reference is None else as_triple(bar.reference)), as_triple(bar.current)


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
    # One call per kind of artist and style, not per bar: a 25-case compare chart has ~450 bars,
    # and a matplotlib call per bar made drawing it seconds slower.
    bands = [(x, bar.tolerance) for x, bar in zip(xs, bars) if ratio and bar.tolerance is not None]
    if bands:
        at, tol = zip(*bands)
        ax.bar(at, [2 * t for t in tol], 0.9, bottom=[1 - t for t in tol], color=BAND_COLOUR,
               edgecolor="none", zorder=0)
        ax.hlines([1 - t for t in tol] + [1 + t for t in tol], [x - 0.45 for x in at] * 2,
                  [x + 0.45 for x in at] * 2, color=BAND_EDGE, linewidth=0.9, zorder=4)
    current, colours = [], []
    baselines: dict[str, list[tuple[float, Triple]]] = {BASELINE_HATCH: [], THRESHOLD_HATCH: []}
    for x, bar, (base, cur) in zip(xs, bars, triples):
        at_cur = x if base is None else x + 0.2
        current.append((at_cur, cur))
        colours.append(bar.colour)
        if base is not None:
            hatch = THRESHOLD_HATCH if bar.baseline is None else BASELINE_HATCH
            baselines[hatch].append((x - 0.2, base))
        if bar.verdict in (REGRESSION, WITHIN_NOISE, IMPROVEMENT, UNCONFIRMED) and base is not None:
            label = f"×{cur[0] / base[0]:.2f}" if base[0] else "from 0"
            ax.annotate(label, (at_cur, min(cur[2], top / HEADROOM)), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", rotation=90,
                        fontsize=7, color=bar.colour, fontweight="bold")
    drawn = [(current, dict(color=colours, edgecolor="#333333", linewidth=0.5))]
    drawn += [(items, dict(color="white", edgecolor="#59636e", hatch=hatch, linewidth=0.8))
              for hatch, items in baselines.items() if items]
    for items, style in drawn:
        at = [a for a, _ in items]
        mids, lows, highs = zip(*(t for _, t in items))
        ax.bar(at, mids, 0.4, **style)
        ax.errorbar(at, mids, [[m - lo for m, lo in zip(mids, lows)],
                               [h - m for m, h in zip(mids, highs)]],
                    fmt="none", ecolor="#222222", capsize=2, linewidth=0.9)
        for a, high in zip(at, highs):
            if high > top:
                ax.annotate("▲", (a, top), xytext=(0, -1), textcoords="offset points",
                            ha="center", va="top", fontsize=6)
    if ratio:
        ax.axhline(1.0, color="#333333", linestyle="--", linewidth=0.8)
    ax.set_ylabel("now / baseline" if ratio else chart_text(bars[0].unit), fontsize=8)
    ax.set_ylim(0, top)
    ax.set_xlim(-0.7, xs[-1] + 0.7)
    ax.set_xticks(xs, [chart_text(spec(b.metric).label) for b in bars], rotation=90, fontsize=8)
    for _, _, end in groups[:-1]:
        ax.axvline(end + 0.8, color="#c0c4c8", linewidth=0.8)
    methods = ax.secondary_xaxis("top")
    methods.set_xticks([c for _, c, _ in groups], [chart_text(m) for m, _, _ in groups], fontsize=9,
                       fontweight="bold")
    methods.tick_params(length=0)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title(title(key), fontsize=10)


def _legend_handles(bars: list[Bar]) -> list[Any]:
    from matplotlib.patches import Patch

    present = {b.verdict for b in bars}
    handles = []
    if any(b.baseline is not None for b in bars):
        handles.append(Patch(facecolor="white", edgecolor="#59636e", hatch=BASELINE_HATCH, label="baseline"))
    if any(b.baseline is None and b.threshold is not None for b in bars):
        handles.append(Patch(facecolor="white", edgecolor="#59636e", hatch=THRESHOLD_HATCH,
                             label="quality threshold"))
    if any(b.tolerance is not None and b.ratios() is not None for b in bars):
        handles.append(Patch(facecolor=BAND_COLOUR, edgecolor=BAND_EDGE, label="tolerance band"))
    handles += [Patch(facecolor=c, edgecolor="#333333", label=v)
                for v, c in VERDICT_COLOURS.items() if v in present]
    return handles


def write_chart(path: Path, comparison: Comparison | None, results: list[CaseResult]) -> str | None:
    """Draw the chart into ``path`` (PNG, written atomically: ``report.figure``), every string
    from the session or baseline as plain text (``report.escape.chart_text``). Returns a one-line
    note instead of raising when matplotlib is missing or nothing can be drawn."""
    bars = chart_bars(comparison, results)
    drawn = panels(bars, [r.method for r in results])
    if not drawn:
        return "comparison.png not written: no measured metrics to draw"
    try:
        plt = pyplot()
    except ImportError:
        return "comparison.png not written: matplotlib is not installed (pip install .[report])"
    widths = {key: panel_slots(key, items) for key, items in drawn.items()}
    layout = lines(widths)
    span = max(sum(widths[k] for k in line) for line in layout)
    status, *moved = chart_text(headline(comparison), limit=200).split("\n")
    head_in = HEAD_IN + MOVED_LINE_IN * len(moved)
    width = max(span * SLOT_IN, 7.0, MOVED_CHAR_IN * max(map(len, moved), default=0))
    fig = plt.figure(figsize=(width, head_in + LINE_IN * len(layout) + 0.5), layout="constrained")
    head, *rows, foot = fig.subfigures(len(layout) + 2, 1,
                                       height_ratios=[head_in, *[LINE_IN] * len(layout), 0.5])
    bad = comparison is not None and bool(comparison.regressions)
    head.suptitle(status, fontsize=12, fontweight="bold",
                  color=VERDICT_COLOURS[REGRESSION] if bad else "#222222")
    if moved:
        head.text(0.5, 1 - 0.45 / head_in, "\n".join(moved), ha="center", va="top", fontsize=9,
                  family="monospace", color="#222222")
    handles = _legend_handles([b for items in drawn.values() for b in items])
    head.legend(handles=handles, loc="lower center", ncols=len(handles), fontsize=9, frameon=False)
    for sub, line in zip(rows, layout):
        used = sum(widths[k] for k in line)
        ratios = [widths[k] for k in line] + ([span - used] if span > used else [])
        axes = sub.subplots(1, len(ratios), width_ratios=ratios, squeeze=False)[0]
        for ax, key in zip(axes, line):
            _draw_panel(ax, key, drawn[key])
        for ax in axes[len(line):]:
            ax.set_axis_off()
    foot.text(0.01, 0.5, chart_text(footer(comparison, bars, drawn), limit=300), fontsize=8, va="center",
              color="#444444")
    save_png(fig, path, dpi=100)
    return None
