"""The history charts: one figure per GPU and model, case and panel, one plot per metric.

Device figures (kernel time, work counters), wall-clock figures (throughput, latency) and memory
get separate panels: their noise differs by two orders of magnitude, and on one axis the wall
clock's spread would flatten a device-time step. In a plot every method is a line of its points
(each with its 95 % interval), divided by its reference (the current baseline's median), so all
methods share the tolerance band around 1. The x axis is the samples in time order, labelled
with date and commit; a dashed line marks where library, driver or CUDA versions changed. Points
the gate would call a regression get a red ring, improvements a blue one; a change point is a
dotted line in the method's colour with its step; a drift is the fitted line, dashed.
matplotlib (Agg) is imported only here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from quantbench.catalog import METHOD_NAMES, SPECS, spec
from quantbench.judge.compare import IMPROVEMENT, REGRESSION
from quantbench.report.chart import VERDICT_COLOURS
from quantbench.report.escape import chart_text
from quantbench.report.figure import pyplot, save_png
from quantbench.report.trend_lines import changed
from quantbench.report.what_moved import change_text
from quantbench.history.series import Group

if TYPE_CHECKING:
    from quantbench.history.trend import Line

PANELS = (("wall clock", ("throughput", "latency")), ("device", ("device", "count")),
          ("memory", ("memory",)), ("other", ("info", "quality")))
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
COLUMN_IN = 0.36  # figure inches per sample on the x axis
PLOT_MIN_IN = 5.5
ROW_IN = 2.9
LABELS_IN = 1.3  # the date and commit tick labels under the bottom row
TITLE_IN = 0.4
LEGEND_ROW_IN = 0.22
LEGEND_COLUMNS = 8


def method_colour(method: str) -> str:
    index = METHOD_NAMES.index(method) if method in METHOD_NAMES else len(METHOD_NAMES)
    return PALETTE[index % len(PALETTE)]


def panel_of(metric: str) -> str:
    kind = spec(metric).kind
    return next(name for name, kinds in PANELS if kind in kinds or name == "other")


def figures(lines: Sequence[Line]) -> list[tuple[str, str, list[Line]]]:
    """``(case_key, panel, lines)`` per figure, cases in order, panels in ``PANELS`` order."""
    order = [name for name, _ in PANELS]
    keyed: dict[tuple[str, str], list[Line]] = {}
    for line in lines:
        keyed.setdefault((line.case_key, panel_of(line.metric)), []).append(line)
    return [(c, p, keyed[(c, p)]) for c, p in sorted(keyed, key=lambda k: (k[0], order.index(k[1])))]


def tick_label(group: Group, index: int) -> str:
    sample = group.samples[index]
    return chart_text(f"{sample.date[5:16].replace('T', ' ')}\n{sample.commit or '-'}", limit=20)


def _plot(ax, lines: Sequence[Line], group: Group, offsets: dict[str, float],
          columns: range) -> None:
    metric = lines[0].metric
    s = spec(metric)
    tolerance = next((l.tolerance for l in lines if l.tolerance is not None), None)
    based = [l for l in lines if l.baseline is not None]
    if tolerance is not None and based:
        ax.axhspan(1 - tolerance, 1 + tolerance, color="#d9d9d9", alpha=0.6, lw=0, zorder=0)
    ax.axhline(1.0, color="#555555", lw=0.8, ls="--", zorder=1)
    labelled: list[float] = []  # change points labelled so far, to stack their labels
    for line in lines:
        colour, dx = method_colour(line.method), offsets.get(line.method, 0.0)
        xs = [i + dx for i, _ in line.points]
        ys = [m.median / line.reference for _, m in line.points]
        err = [[max(m.median - m.low, 0) / line.reference for _, m in line.points],
               [max(m.high - m.median, 0) / line.reference for _, m in line.points]]
        ax.errorbar(xs, ys, yerr=err, color=colour, marker="o", ms=3.5, lw=1.1, elinewidth=0.9,
                    capsize=1.5, zorder=3)
        for x, y, verdict in zip(xs, ys, line.verdicts):
            if verdict in (REGRESSION, IMPROVEMENT):
                ax.plot(x, y, "o", ms=9, mfc="none", mec=VERDICT_COLOURS[verdict], mew=1.6, zorder=4)
        for cp in line.trend.change_points:
            if line.tolerance is not None and abs(cp.step) <= line.tolerance:
                continue  # within tolerance: in the table under the chart, not drawn
            x = line.points[cp.index][0] - 0.5
            ax.axvline(x, color=colour, ls=":", lw=1.2, zorder=2)
            worse = change_text(cp.before, cp.after, line.points[0][1].higher_is_better)
            ax.annotate(chart_text(f"{line.method} {worse}"), (x, 1), xycoords=("data", "axes fraction"),
                        xytext=(2, -9 * (1 + labelled.count(x))), textcoords="offset points",
                        color=colour, fontsize=7)
            labelled.append(x)
        if line.trend.drift and line.trend.fit:
            ax.plot([xs[0], xs[-1]], list(line.trend.fit), color=colour, ls="--", lw=2, zorder=3)
    for i in columns[1:]:
        if changed(group.samples[i - 1].versions, group.samples[i].versions):
            ax.axvline(i - 0.5, color="black", ls="--", lw=0.8, zorder=2)
    direction = "higher" if s.higher_is_better else "lower"
    unit = f", {s.unit}" if s.unit else ""
    ax.set_title(chart_text(f"{s.label} ({metric}{unit}): {direction} is better"), fontsize=9, loc="left")
    ref = "baseline median" if based else "series median (no baseline)"
    ax.set_ylabel(f"value / {ref}", fontsize=7)
    ax.tick_params(labelsize=7)
    ax.grid(axis="y", lw=0.4, alpha=0.5)


def _legend(methods: Sequence[str], tolerance_shown: bool) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color=method_colour(m), marker="o", ms=4, label=chart_text(m, 40))
               for m in methods]
    if tolerance_shown:
        handles.append(Patch(color="#d9d9d9", label="baseline ± tolerance"))
    handles += [
        Line2D([], [], ls="none", marker="o", ms=8, mfc="none", mec=VERDICT_COLOURS[REGRESSION],
               label="regression vs baseline"),
        Line2D([], [], ls="none", marker="o", ms=8, mfc="none", mec=VERDICT_COLOURS[IMPROVEMENT],
               label="improvement"),
        Line2D([], [], color="#555555", ls=":", label="step beyond tolerance"),
        Line2D([], [], color="#555555", ls="--", lw=2, label="drift (fitted line)"),
        Line2D([], [], color="black", ls="--", lw=0.8, label="versions changed"),
    ]
    return handles


def draw(path: Path, group: Group, case_key: str, panel: str, lines: Sequence[Line],
         dpi: int = 90) -> bytes:
    """Draw one figure to ``path`` (PNG, written atomically: ``report.figure``); returns its
    bytes. Every string from a session or baseline is chart text (``report.escape``)."""
    plt = pyplot()

    catalog = list(SPECS)
    metrics = sorted({l.metric for l in lines},
                     key=lambda m: catalog.index(m) if m in catalog else len(catalog))
    methods = sorted({l.method for l in lines},
                     key=lambda m: METHOD_NAMES.index(m) if m in METHOD_NAMES else len(METHOD_NAMES))
    spread = 0.5 / max(len(methods), 1)
    offsets = {m: (i - (len(methods) - 1) / 2) * spread for i, m in enumerate(methods)}
    # The samples this figure has points at, first to last (device figures may start late).
    first = min(i for l in lines for i, _ in l.points)
    last = max(i for l in lines for i, _ in l.points)
    columns = last - first + 1
    ncols = 1 if len(metrics) == 1 else 2
    nrows = math.ceil(len(metrics) / ncols)
    width = ncols * max(PLOT_MIN_IN, COLUMN_IN * columns + 1.0)
    handles = _legend(methods, any(l.baseline is not None and l.tolerance is not None for l in lines))
    top = TITLE_IN + LEGEND_ROW_IN * math.ceil(len(handles) / LEGEND_COLUMNS)
    height = nrows * ROW_IN + LABELS_IN + top
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), sharex=True, squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        _plot(ax, [l for l in lines if l.metric == metric], group, offsets, range(first, last + 1))
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    labels = [tick_label(group, i) for i in range(first, last + 1)]
    for index, ax in enumerate(axes.flat):
        ax.set_xticks(range(first, last + 1))
        ax.set_xticklabels(labels, rotation=90, fontsize=6.5)
        ax.set_xlim(first - 0.6, last + 0.4)
        # Labels under the lowest drawn plot of each column only.
        ax.tick_params(axis="x", labelbottom=index + ncols >= len(metrics))
    fig.suptitle(chart_text(f"{group.title}: {case_key}, {panel}", limit=200), fontsize=11,
                 y=1 - 0.08 / height, va="top")
    fig.legend(handles=handles, loc="upper center", ncol=LEGEND_COLUMNS, fontsize=7.5,
               frameon=False, bbox_to_anchor=(0.5, 1 - TITLE_IN / height))
    fig.tight_layout(rect=(0, 0, 1, 1 - (top - 0.2) / height))
    return save_png(fig, path, dpi)
