"""The batch axis of the map: where each method stops paying as the batch grows.

At batch 1 a weight-only method wins only by reading fewer bytes; as the batch grows the matmuls
turn compute-bound and the order changes. For every (model, mode, method) measured at several
batch sizes this gives its end-to-end speed-up over FP16 at each batch, the batches at which it
beats FP16 and the largest of them (``map.md``), and draws decode throughput against batch, one
line per method and a panel per model and mode (``batch.png``). matplotlib is imported only to
draw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from quantbench.catalog import REFERENCE_METHOD
from quantbench.report.escape import chart_text, markdown
from quantbench.report.figure import pyplot, save_png
from quantbench.report.pay_table import billions, markdown_table

_BATCH = re.compile(r"^generate-bs(\d+)$")


def batch_of(case: str) -> int | None:
    """The batch size of a generate case id (``generate-bs16`` -> 16), else ``None``."""
    match = _BATCH.match(case)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class BatchRow:
    """One method in one (model, mode) over the batches it was measured at."""

    model: str
    parameters: int | None
    mode: str
    method: str
    ratios: dict[int, float | None]  # batch -> end-to-end decode tok/s over FP16's
    tps: dict[int, float | None]  # batch -> decode tok/s (all sequences of the batch)

    @property
    def wins_at(self) -> list[int]:
        """The batches at which it beats FP16 end to end."""
        return sorted(b for b, r in self.ratios.items() if r is not None and r > 1.0)

    @property
    def largest_win(self) -> int | None:
        """The largest measured batch at which it still beats FP16 end to end."""
        return max(self.wins_at, default=None)


def batch_rows(rows: Sequence[Any]) -> list[BatchRow]:
    """The map's rows (``sweep_map.MapRow``) regrouped by (model, mode, method) over batch, for
    those measured at more than one batch size, in the map's order."""
    grouped: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in rows:
        batch = batch_of(r.case)
        if batch is None:
            continue
        entry = grouped.setdefault((r.model, r.mode, r.method),
                                   {"parameters": r.parameters, "ratios": {}, "tps": {}})
        entry["ratios"][batch] = r.e2e_ratio
        entry["tps"][batch] = r.decode_tps
    return [BatchRow(model, g["parameters"], mode, method, dict(sorted(g["ratios"].items())),
                     dict(sorted(g["tps"].items())))
            for (model, mode, method), g in grouped.items() if len(g["ratios"]) > 1]


def batch_tables(rows: Sequence[Any]) -> list[str]:
    """``map.md``'s batch section: speed-up over FP16 at each batch and the largest batch at
    which each method still beats FP16 (nothing when no method has several batches)."""
    table = batch_rows(rows)
    if not table:
        return []
    batches = sorted({b for r in table for b in r.ratios})
    lines = ["", "## Where each method stops paying: speed-up over FP16 by batch size", "",
             f"End to end: decode tok/s over {REFERENCE_METHOD}'s at the same model, mode and batch. "
             "\"Largest batch beating FP16\": the largest measured batch at which it is faster than "
             f"{REFERENCE_METHOD} (\"none\": slower at every batch measured).", ""]
    lines += markdown_table(
        ["Model", "Parameters", "Mode", "Method", *(f"× FP16 bs{b}" for b in batches),
         "Largest batch beating FP16"],
        [[markdown(r.model), billions(r.parameters), markdown(r.mode), markdown(r.method),
          *("-" if r.ratios.get(b) is None else f"{r.ratios[b]:.2f}" for b in batches),
          "none" if r.largest_win is None else f"bs{r.largest_win}"]
         for r in table if r.method != REFERENCE_METHOD])
    return lines


def write_batch_chart(path: Path, rows: Sequence[Any]) -> str | None:
    """``batch.png``: decode tok/s against batch size, a line per method, a panel per (model,
    mode). Returns a note when there is nothing to draw or it could not be drawn."""
    table = batch_rows(rows)
    if not table:
        return None
    try:
        plt = pyplot()
    except ImportError:
        return "batch.png not written: matplotlib is not installed (pip install .[report])"
    panels = list(dict.fromkeys((r.model, r.parameters, r.mode) for r in table))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.6), squeeze=False)
    for ax, (model, parameters, mode) in zip(axes[0], panels):
        for r in (r for r in table if (r.model, r.mode) == (model, mode)):
            points = [(b, t) for b, t in r.tps.items() if t is not None]
            if points:
                ax.plot(*zip(*points), marker="o", label=chart_text(r.method),
                        linestyle="--" if r.method == REFERENCE_METHOD else "-")
        batches = sorted({b for r in table if (r.model, r.mode) == (model, mode) for b in r.tps})
        ax.set_xscale("log", base=2)
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.minorticks_off()
        ax.set_yscale("log")
        ax.set_title(chart_text(f"{billions(parameters)} {mode}: decode throughput by batch"), fontsize=11)
        ax.set_xlabel("batch size")
        ax.set_ylabel("decode tok/s (all sequences)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=9)
    fig.tight_layout()
    save_png(fig, path, dpi=110)
    return None
