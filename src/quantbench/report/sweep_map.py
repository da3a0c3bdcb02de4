"""The size sweep's map: each method's speed-up over FP16 against model size, end to end and at
kernel level, its prefill kernel speed-up, and the weights and peak memory it saves (``map.md``,
``map.json``, ``map.png``).

End to end is wall-clock decode throughput over the reference method's in the same model, mode
and case: the paired ratio of interleaved rounds (``decode_ratio``, ``--qb-interleave``) where
the session has it, since methods measured one after another meet different host drift (a
method with FP16's kernels can read tens of percent apart from it: docs/findings.md, "BF16
against FP16, measured one after the other"), else the ratio of
``decode_tps`` medians; kernel level is the reference's CUDA kernel time per decode token
(``decode_kernel_us``) over the method's, so a reader sees whether the hardware gain exists and
where the stack loses it. A CPU session has no kernel time: "not measured". matplotlib is
imported only to draw.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from quantbench.catalog import MODES, REFERENCE_METHOD
from quantbench.report.batch_map import batch_rows, batch_tables, write_batch_chart
from quantbench.report.pay_table import NO_REFERENCE, billions, failed_methods, markdown_table, pay_tables
from quantbench.results import CaseResult
from quantbench.session import Session
from quantbench.files import atomic_write_bytes
from quantbench.report.escape import chart_text, markdown
from quantbench.report.figure import pyplot, save_png

NOT_MEASURED = "not measured"
PAIRED_RATIO = "decode_ratio"  # the interleaved rounds' decode tok/s over the reference's
LEVELS = (("e2e_ratio", "end to end (wall-clock decode tok/s)"),
          ("kernel_ratio", "kernel level (CUDA kernel time per token)"))


@dataclass(frozen=True)
class ModelRun:
    """One model's pytest session in the sweep: what ran, how it ended, what it wrote."""

    model: str
    parameters: int | None
    exit_code: int
    status: str  # passed | failed (exit N) | cut off (partial session) | no session file
    report_dir: str
    session: Session | None = None


@dataclass(frozen=True)
class MapRow:
    """One method in one (model, mode, case): its speeds, their ratios to FP16, its weights."""

    model: str
    parameters: int | None
    mode: str
    case: str
    method: str
    decode_tps: float | None
    e2e_ratio: float | None
    kernel_us: float | None
    kernel_ratio: float | None
    weights_gb: float | None
    vram_saved: float | None
    has_reference: bool
    # End to end from interleaved rounds (--qb-interleave: the paired ratio of per-round decode
    # tok/s, with its 95 % interval) where the session measured it, else from sequential medians.
    e2e_paired: bool = False
    e2e_low: float | None = None
    e2e_high: float | None = None
    prefill_kernel_ratio: float | None = None  # the reference's prefill kernel time over this one's
    peak_saved: float | None = None  # 1 - peak allocated GB over the reference's
    # Close to the hardware: bytes read a decode step (weights and KV) per second, that over the
    # host probe's copy bandwidth, and the GPU's busy share of a token (the profiled pass).
    bandwidth_gbs: float | None = None
    roofline_pct: float | None = None
    gpu_busy_pct: float | None = None


def _median(result: CaseResult | None, metric: str) -> float | None:
    if result is None or metric not in result.metrics:
        return None
    return result.metrics[metric].median


def _over(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None


def _saved_part(value: float | None, reference: float | None) -> float | None:
    """The fraction of the reference's memory a method saves (negative when it uses more)."""
    ratio = _over(value, reference)
    return None if ratio is None else 1 - ratio


def map_rows(runs: Sequence[ModelRun]) -> list[MapRow]:
    """Every generation case of every finished session, one row per method, with its ratios
    to the reference method of the same model, mode and case."""
    rows = []
    for index, run in enumerate(runs):
        if run.session is None:
            continue
        cases = [r for r in run.session.results if r.case.startswith("generate")]
        for result in cases:
            ref = next((r for r in cases if r.method == REFERENCE_METHOD and r.mode == result.mode
                        and r.case == result.case), None)
            tps, kernel, weights = (_median(result, m) for m in ("decode_tps", "decode_kernel_us",
                                                                 "weights_gb"))
            paired = result.metrics.get(PAIRED_RATIO)
            rows.append((index, MapRow(
                run.model, run.parameters, result.mode, result.case, result.method, tps,
                paired.median if paired else _over(tps, _median(ref, "decode_tps")), kernel,
                _over(_median(ref, "decode_kernel_us"), kernel), weights,
                _saved_part(weights, _median(ref, "weights_gb")),
                ref is not None, paired is not None, paired.low if paired else None,
                paired.high if paired else None,
                _over(_median(ref, "prefill_kernel_us"), _median(result, "prefill_kernel_us")),
                _saved_part(_median(result, "peak_gb"), _median(ref, "peak_gb")),
                *(_median(result, m) for m in ("decode_bandwidth_gbs", "roofline_pct", "gpu_busy_pct")))))
    mode_order = {m: i for i, m in enumerate(MODES)}
    # a size split over several sessions (each with its own FP16) keeps each session's rows together
    rows.sort(key=lambda ir: (ir[1].parameters or 0, ir[1].model, mode_order.get(ir[1].mode, 9),
                              ir[1].case, ir[0], ir[1].method != REFERENCE_METHOD))
    return [row for _, row in rows]


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(row: MapRow, value: float | None, measured: float | None) -> str:
    if measured is None:
        return NOT_MEASURED if value is None else "-"
    if not row.has_reference:
        return NO_REFERENCE
    return "-" if value is None else f"{value:.2f}×"


def _e2e(row: MapRow) -> str:
    """The end-to-end ratio; a paired one with its 95 % interval."""
    text = _ratio(row, row.e2e_ratio, row.decode_tps)
    if row.e2e_paired:
        text += f" ({row.e2e_low:.2f}-{row.e2e_high:.2f}, paired)"
    return text


def _saved(row: MapRow, saved: float | None) -> str:
    if saved is None:
        return "-" if row.has_reference else NO_REFERENCE
    return f"{saved * 100:.0f}%"


def notes_of(runs: Sequence[ModelRun]) -> list[str]:
    """Where one size's methods were split over sessions (each with its own FP16), with how far
    apart those FP16s read (the drift a ratio not paired is exposed to), then each distinct note
    of the sessions' AWQ cases (how AWQ was made), once."""
    references: dict[tuple[str, str, str], list[float | None]] = {}
    for run in runs:
        for r in run.session.results if run.session else ():
            if r.method == REFERENCE_METHOD and r.case.startswith("generate"):  # the map's cases
                references.setdefault((run.model, r.mode, r.case), []).append(_median(r, "decode_tps"))
    seen = [f"{' '.join(key)}: {REFERENCE_METHOD} measured in {len(tps)} sessions{_spread(tps)}; each "
            f"method's ratios are to the {REFERENCE_METHOD} of its own session"
            for key, tps in references.items() if len(tps) > 1]
    for run in runs:
        for result in run.session.results if run.session else ():
            for note in result.notes:
                if result.method == "awq" and note.startswith("AWQ") and note not in seen:
                    seen.append(note)
    return seen


def _spread(tps: Sequence[float | None]) -> str:
    """`` (381.1 and 294.2 tok/s, 23 % apart)``: the same method in several sessions, so how far a
    ratio measured one method after another can move with the host alone."""
    if any(t is None for t in tps) or not min(tps):
        return ""
    shown = [_num(t) for t in tps]
    return f" ({', '.join(shown[:-1])} and {shown[-1]} tok/s, {(1 - min(tps) / max(tps)) * 100:.0f} % apart)"


def map_markdown(runs: Sequence[ModelRun], rows: Sequence[MapRow], command: Sequence[str]) -> str:
    """``map.md``: the sessions and how each ended, then the map table."""
    lines = ["# quantbench size sweep", "", f"Command: `{' '.join(command)}`", "", "## Sessions", ""]
    lines += markdown_table(["Model", "Parameters", "Exit", "Status", "Reports"],
                    [[markdown(r.model), billions(r.parameters), str(r.exit_code), markdown(r.status),
                      markdown(r.report_dir)] for r in runs])
    lines += ["", "## Speed-up over FP16 by model size", "",
              f"End to end: decode tok/s over {REFERENCE_METHOD}'s in the same model, mode and "
              f"case. Kernel level: {REFERENCE_METHOD}'s CUDA kernel time per decode token over "
              "the method's (higher is faster for both); prefill the same for the prompt's "
              f"kernels. Saved: weights and peak allocated memory against {REFERENCE_METHOD}'s. "
              f"\"paired\": from rounds interleaved with {REFERENCE_METHOD}'s "
              "(`--qb-interleave`), the geometric mean of per-round ratios and its 95 % interval, "
              "which host drift between methods cannot bias; otherwise from each method's own "
              "rounds, measured one after another. Decode GB/s: the weights and KV cache a step "
              "reads, per second, and that over the host probe's copy bandwidth; GPU busy: kernel "
              "time over wall time a token, in the profiled pass.", ""]
    lines += markdown_table(
        ["Model", "Parameters", "Mode", "Case", "Method", "Decode tok/s", "× FP16 end to end",
         "Kernel µs/token", "× FP16 kernel level", "× FP16 prefill kernels", "Weights GB",
         "Weights saved", "Peak saved", "Decode GB/s (% of copy)", "GPU busy"],
        [[markdown(r.model), billions(r.parameters), markdown(r.mode), markdown(r.case),
          markdown(r.method), _num(r.decode_tps),
          _e2e(r),
          NOT_MEASURED if r.kernel_us is None else _num(r.kernel_us),
          _ratio(r, r.kernel_ratio, r.kernel_us),
          _ratio(r, r.prefill_kernel_ratio, r.kernel_us),
          _num(r.weights_gb, 3), _saved(r, r.vram_saved), _saved(r, r.peak_saved),
          "-" if r.bandwidth_gbs is None else f"{r.bandwidth_gbs:.0f} ({_num(r.roofline_pct, 0)} %)",
          NOT_MEASURED if r.gpu_busy_pct is None else f"{r.gpu_busy_pct:.0f} %"] for r in rows])
    lines += pay_tables(rows, failed_methods(runs)) + batch_tables(rows)
    notes = notes_of(runs)
    if notes:
        lines += ["", "## Notes", "", *(f"- {markdown(n)}" for n in notes)]
    return "\n".join(lines) + "\n"


def map_json(runs: Sequence[ModelRun], rows: Sequence[MapRow], command: Sequence[str]) -> dict:
    """``map.json``: the same facts as ``map.md``, ratios as numbers (``null`` when missing)."""
    sessions = [{k: v for k, v in asdict(r).items() if k != "session"} for r in runs]
    return {"schema": "quantbench.commands.sweep-map/1", "command": list(command),
            "reference_method": REFERENCE_METHOD, "sessions": sessions,
            "rows": [asdict(r) for r in rows], "notes": notes_of(runs)}


def series(rows: Sequence[MapRow], mode: str, level: str) -> dict[str, list[tuple[float, float]]]:
    """A chart panel's lines: per method (with its case when there are several), the points
    (parameters in billions, ratio) in size order; models without a count or a ratio are left out."""
    cases = {r.case for r in rows}
    lines: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        value = getattr(r, level)
        if r.mode != mode or value is None or not r.parameters:
            continue
        label = r.method if len(cases) == 1 else f"{r.method} ({r.case})"
        lines.setdefault(label, []).append((r.parameters / 1e9, value))
    return {k: sorted(v) for k, v in lines.items()}


def write_chart(path: Path, rows: Sequence[MapRow]) -> str | None:
    """``map.png``: speed-up over FP16 against model size, one line per method, a panel per
    (level, mode). Returns a note when it could not be drawn."""
    try:
        plt = pyplot()
    except ImportError:
        return "map.png not written: matplotlib is not installed (pip install .[report])"
    sizes = sorted({r.parameters / 1e9 for r in rows if r.parameters})
    modes = [m for m in MODES if any(r.mode == m for r in rows)] or list(MODES[:1])
    fig, axes = plt.subplots(len(LEVELS), len(modes), figsize=(6.4 * len(modes), 4.6 * len(LEVELS)),
                             squeeze=False)
    for i, (level, level_label) in enumerate(LEVELS):
        for j, mode in enumerate(modes):
            ax = axes[i][j]
            lines = {k: v for k, v in series(rows, mode, level).items() if k != REFERENCE_METHOD}
            for label, points in lines.items():
                ax.plot(*zip(*points), marker="o", label=chart_text(label, 60))
            ax.set_title(f"{mode}: {level_label}", fontsize=11)
            ax.set_xlabel("model parameters (billions)")
            ax.set_ylabel(f"speed-up over {REFERENCE_METHOD} (×)")
            if lines:
                ax.axhline(1.0, color="grey", linestyle="--", linewidth=1,
                           label=f"{REFERENCE_METHOD} (1.0×)")
                ax.set_xscale("log")
                ax.set_xticks(sizes, [f"{s:.3g}B" for s in sizes])
                ax.minorticks_off()
                ax.legend(fontsize=9)
            else:
                ax.text(0.5, 0.5, f"nothing to draw: {NOT_MEASURED} or no {REFERENCE_METHOD} case",
                        ha="center", va="center", transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
            ax.grid(True, alpha=0.3)
    fig.tight_layout()
    save_png(fig, path, dpi=110)
    return None


def write_map(out: Path, runs: Sequence[ModelRun], command: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Write ``map.md``, ``map.json`` and ``map.png`` into ``out``; the files and any notes."""
    rows = map_rows(runs)
    atomic_write_bytes(out / "map.md", map_markdown(runs, rows, command).encode("utf-8"))
    atomic_write_bytes(out / "map.json", json.dumps(map_json(runs, rows, command), indent=2,
                                                    default=str).encode("utf-8"))
    written, notes = [out / "map.md", out / "map.json"], []
    charts = [("map.png", write_chart)] + ([("batch.png", write_batch_chart)] if batch_rows(rows) else [])
    for name, draw in charts:
        note = draw(out / name, rows)
        notes += [note] if note else []
        written += [] if note else [out / name]
    return written, notes

