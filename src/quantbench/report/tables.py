"""End-of-session tables: one per bench case, every metric per method, ratios to FP16.

Plain text, fixed width, so they read the same in a terminal, a CI log and a Markdown code
block. The first table of a generation case has the T4 study's shape.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from quantbench.catalog import REFERENCE_METHOD, spec
from quantbench.report.escape import plain
from quantbench.results import WIDTH, CaseResult, Metric, fmt_value
from quantbench.run.timeline import PHASES

GEN_COLUMNS = ("e2e_tps", "decode_tps", "ttft_ms", "token_p50_ms", "token_p90_ms", "token_p99_ms",
               "weights_gb", "peak_gb", "roofline_pct")
PREFILL_COLUMNS = ("prefill_tps", "weights_gb", "peak_gb")
QUALITY_COLUMNS = ("top1_agreement", "token_agreement", "kl_divergence", "perplexity")
COMPILE_COLUMNS = ("compile_s", "graph_breaks", "cudagraph_skips")
# Ratios to FP16 from interleaved rounds (--qb-interleave), each with its paired 95 % interval.
PAIRED_COLUMNS = ("decode_ratio", "e2e_ratio")
# Device time and work counters per decode token (run.device, run.python_calls, run.energy).
WORK_COLUMNS = ("decode_kernel_us", "decode_kernels", "decode_launches", "decode_graph_launches",
                "decode_host_us", "decode_sync_wait_us", "decode_host_busy_us", "gpu_busy_pct",
                "decode_py_calls", "energy_mj_per_token", "prefill_kernel_us")
FAMILY_COLUMNS = ("kernel_us_gemm", "kernel_us_attention", "kernel_us_quant", "kernel_us_norm",
                  "kernel_us_copy", "kernel_us_other")
HEADERS = {
    "e2e_tps": "E2E tok/s", "decode_tps": "Decode tok/s", "ttft_ms": "TTFT ms",
    "token_p50_ms": "p50 ms", "token_p90_ms": "p90 ms", "token_p99_ms": "p99 ms",
    "weights_gb": "Weights GB", "peak_gb": "Peak GB", "roofline_pct": "Roofline %",
    "prefill_tps": "Prefill tok/s", "token_agreement": "Greedy agreement with FP16",
    "top1_agreement": "Top-1 agreement with FP16",
    "kl_divergence": "KL from FP16 (nats)", "perplexity": "Perplexity",
    "compile_s": "Compile s", "graph_breaks": "Graph breaks", "cudagraph_skips": "CUDA graph skips",
    "decode_ratio": "Decode vs fp16 (paired)", "e2e_ratio": "E2E vs fp16 (paired)",
}


def fmt_metric(metric: Metric | None) -> str:
    """``median ±half-width%`` for sampled metrics, the plain value for exact ones."""
    if metric is None:
        return "-"
    text = fmt_value(metric.median)
    if metric.stop != "exact" and metric.n > 1:
        text += f" ±{metric.rel_halfwidth * 100:.1f}%"
    return text


def fmt_paired(metric: Metric | None) -> str:
    """A paired ratio and its 95 % interval: ``0.99x [0.97, 1.01]``."""
    if metric is None:
        return "-"
    return f"{metric.median:.2f}x [{metric.low:.2f}, {metric.high:.2f}]"




def _block(rows: list[list[str]], header: list[str], columns: list[int]) -> str:
    rows = [[plain(cell) for cell in row] for row in rows]  # a name with a line break stays in its cell
    widths = {i: max(len(r[i]) for r in [header, *rows]) for i in columns}
    line = lambda r: " | ".join(r[i].ljust(widths[i]) for i in columns)  # noqa: E731
    return "\n".join([line(header), "-+-".join("-" * widths[i] for i in columns), *map(line, rows)])


def render(rows: list[list[str]], header: list[str], width: int = WIDTH) -> str:
    """A fixed-width table; past ``width`` columns, the columns after the first are cut into
    blocks, each under the first column again, so that no line is wider than ``width``."""
    size = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    blocks: list[list[int]] = [[0]]
    for i in range(1, len(header)):
        used = sum(size[j] + 3 for j in blocks[-1]) - 3
        if len(blocks[-1]) > 1 and used + 3 + size[i] > width:
            blocks.append([0])
        blocks[-1].append(i)
    return "\n\n".join(_block(rows, header, columns) for columns in blocks)


def _ratio(results: list[CaseResult], method: CaseResult, metric: str, *, inverse: bool = False) -> str:
    """``method``'s metric over the reference method's (``inverse``: the reference's over the
    method's, a speed ratio of a time)."""
    ref = next((r for r in results if r.method == REFERENCE_METHOD), None)
    if ref is None or metric not in ref.metrics or metric not in method.metrics:
        return "-"
    base, value = ref.metrics[metric].median, method.metrics[metric].median
    if inverse:
        base, value = value, base
    return f"{value / base:.2f}x" if base else "-"


def _saved(results: list[CaseResult], method: CaseResult) -> str:
    ref = next((r for r in results if r.method == REFERENCE_METHOD), None)
    if ref is None or method.method == REFERENCE_METHOD or "weights_gb" not in method.metrics:
        return ""
    base = ref.metrics["weights_gb"].median
    return f"{(1 - method.metrics['weights_gb'].median / base) * 100:.0f}%" if base else "-"


def study_table(results: list[CaseResult]) -> str:
    """The T4 study's shape: Method | Throughput | VRAM | vs FP16 speed | VRAM saved."""
    header = ["Method", "Throughput (tok/s)", "VRAM (weights, GB)", "vs FP16 speed", "VRAM saved"]
    rows = [[r.method, fmt_metric(r.metrics.get("e2e_tps")), fmt_metric(r.metrics.get("weights_gb")),
             _ratio(results, r, "e2e_tps"), _saved(results, r)] for r in results]
    return render(rows, header)


def quality_table(results: list[CaseResult]) -> str:
    """Agreement, KL and (with a real tokenizer) perplexity against FP16, one row per method."""
    columns = [c for c in QUALITY_COLUMNS if any(c in r.metrics for r in results)]
    rows = [[r.method, r.dtype, *(fmt_metric(r.metrics.get(c)) for c in columns)] for r in results]
    return render(rows, ["Method", "dtype", *(HEADERS[c] for c in columns)])


def case_table(results: list[CaseResult]) -> str:
    """Every metric of one case, one row per method, with speed ratios to fp16."""
    if results[0].case == "quality":
        return quality_table(results)
    prefill = results[0].case.startswith("prefill")
    columns = PREFILL_COLUMNS if prefill else GEN_COLUMNS
    if any("compile_s" in r.metrics for r in results):
        columns = (*columns, *COMPILE_COLUMNS)
    speed = "prefill_tps" if prefill else "decode_tps"
    paired = [c for c in PAIRED_COLUMNS if any(c in r.metrics for r in results)]
    header = ["Method", "dtype", *(HEADERS[c] for c in columns), f"{HEADERS[speed]} vs fp16",
              *(HEADERS[c] for c in paired), "stop"]
    rows = []
    for r in results:
        stops = {m.stop for m in r.metrics.values() if m.stop != "exact"}
        n = max((m.n for m in r.metrics.values() if m.stop != "exact"), default=0)
        rows.append([r.method, r.dtype, *(fmt_metric(r.metrics.get(c)) for c in columns),
                     _ratio(results, r, speed), *(fmt_paired(r.metrics.get(c)) for c in paired),
                     f"{'/'.join(sorted(stops))} n={n}"])
    return render(rows, header)


def work_table(results: list[CaseResult]) -> str | None:
    """Device time, work counters and energy per decode token, and kernel time by family, with
    kernel time's ratio to the reference method (the speed-up where the hardware sees it): one
    row per metric, one column per method, so that it stays narrow."""
    columns = [c for c in (*WORK_COLUMNS, *FAMILY_COLUMNS) if any(c in r.metrics for r in results)]
    if not columns:
        return None

    rows = [[f"{spec(c).label} ({spec(c).unit})", *(fmt_metric(r.metrics.get(c)) for r in results)]
            for c in columns]
    if any("decode_kernel_us" in r.metrics for r in results):
        rows.append(["Kernel speed vs fp16",
                     *(_ratio(results, r, "decode_kernel_us", inverse=True) for r in results)])
    return render(rows, ["Metric", *(r.method for r in results)])


def group_cases(results: Iterable[CaseResult]) -> dict[tuple[str, str, str], list[CaseResult]]:
    groups: dict[tuple[str, str, str], list[CaseResult]] = defaultdict(list)
    for r in results:
        groups[(r.scenario, r.mode, r.case)].append(r)
    return dict(groups)


def session_tables(results: list[CaseResult]) -> str:
    """All tables of a session, the study-shaped one first for batch-1 generation."""
    blocks = []
    for (scenario, mode, case), rows in group_cases(results).items():
        title = plain(f"quantbench · scenario {scenario} · {mode} · {case}")
        body = case_table(rows)
        if case == "generate-bs1":
            body = study_table(rows) + "\n\n" + body
        work = work_table(rows) if case.startswith("generate") else None
        if work:
            body += "\n\nDevice time and work per decode token (profiled pass)\n" + work
        blocks.append(f"{title}\n{body}")
    return "\n\n".join(blocks)


TIME_HEADER = ["Method", "start s", "prepare s", "load s", "warm-up s", "measuring s", "compile s",
               "profile s", "quality s", "bandwidth s"]


def time_lines(data: dict) -> list[str]:
    """The session's time breakdown (``run.timeline.time_breakdown``) as a table and one line."""
    rows = [[m, *(f"{p.get(k, 0.0):.1f}" for k in PHASES)] for m, p in data["per_method"].items()]
    # wall = loading + model work + outside it, exactly (``run.timeline.time_breakdown``); one
    # line within WIDTH columns up to four-digit figures
    line = (f"session wall {data['wall_s']:.1f} s = loading & preparing {data['load_s']:.1f} "
            f"+ model work {data['work_s']:.1f} + outside it {data['outside_s']:.1f} "
            f"({data['outside_share'] * 100:.1f}% of non-loading time)")
    return ([render(rows, TIME_HEADER)] if rows else []) + [line]


def session_lines(session: Any) -> list[str]:
    """What the terminal shows at a session's end: the result tables, where the time went, and
    each method that was skipped or failed (to load, or while measuring), with its reason."""
    lines = session_tables(session.results).splitlines() + [""] if session.results else []
    if session.time:
        lines += time_lines(session.time)
    lines += [f"skipped {method}: {reason}" for method, reason in session.skipped.items()]
    lines += list(session.failures.values())  # each names its method: "nf4 failed to load: ..."
    return lines
