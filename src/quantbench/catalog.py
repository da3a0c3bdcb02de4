"""quantbench's facts, each stated once: the methods, the reference method, the modes, and the
metrics it knows (unit, direction, kind) with the default tolerance of each kind.

The kind decides the default regression tolerance (throughput and latency 10 %, memory 5 %);
``info`` metrics (roofline shares, bytes per step) explain a result and are never gated;
``quality`` metrics are judged by thresholds against the reference method, not by drift.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_METHODS = ("fp16", "bf16", "int8", "nf4", "awq")
# Opt-in: AWQ's checkpoint on gemlite's Triton kernels instead of autoawq's GEMM
# (``awq-gemlite``), bitsandbytes INT8 without outlier columns (compiles as one graph), torchao's
# weight-only methods, built to compile (``--qb-methods fp16,int8vw,int8wo,int4wo``), and
# torchao's FP8 methods, which need FP8 tensor cores (compute capability 8.9: Ada, Hopper).
METHOD_NAMES = (*DEFAULT_METHODS, "awq-gemlite", "int8vw", "int8wo", "int4wo", "fp8wo", "fp8dq")
# The method every other one is compared with (quality reference, speed and memory ratios).
REFERENCE_METHOD = "fp16"
# Which loop each mode times: Hugging Face ``generate`` (eager, or compiled with a static cache),
# or quantbench's own serving-grade loop (``run.decode_loop``: one CUDA graph a decode token).
MODES = ("eager", "generate-compiled", "graph", "graph-compiled")
# Names records written before a rename still carry: ``compiled`` was ``generate-compiled``.
LEGACY_MODES = {"compiled": "generate-compiled"}


def current_mode(mode: str) -> str:
    """A stored mode under its current name (records and baselines from before a rename)."""
    return LEGACY_MODES.get(mode, mode)


def current_case_key(key: str) -> str:
    """A stored ``<mode>/<case>`` key under the mode's current name."""
    mode, sep, case = key.partition("/")
    return f"{current_mode(mode)}{sep}{case}"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str
    higher_is_better: bool
    kind: str  # throughput | latency | memory | device | count | quality | info
    label: str
    # What moved when it regresses: "gpu" (device work), "host" (host work), "wall" (wall clock:
    # the software or only the machine), "memory", "quality" or "info".
    family: str = "info"


_SPECS = [
    MetricSpec("prefill_tps", "tok/s", True, "throughput", "Prefill", "wall"),
    MetricSpec("ttft_ms", "ms", False, "latency", "TTFT", "wall"),
    MetricSpec("decode_tps", "tok/s", True, "throughput", "Decode", "wall"),
    MetricSpec("e2e_tps", "tok/s", True, "throughput", "End-to-end", "wall"),
    MetricSpec("token_p50_ms", "ms", False, "latency", "Token p50", "wall"),
    MetricSpec("token_p90_ms", "ms", False, "latency", "Token p90", "wall"),
    MetricSpec("token_p99_ms", "ms", False, "latency", "Token p99", "wall"),
    MetricSpec("weights_gb", "GB", False, "memory", "Weights", "memory"),
    MetricSpec("peak_gb", "GB", False, "memory", "Peak", "memory"),
    # What the caching allocator and the driver hold depends on the process's allocation history
    # as much as on the method: an unchanged build's FP16 can reserve three times as much in one
    # session as in the next with the same peak (docs/gating.md). Reported, never gated.
    MetricSpec("reserved_gb", "GB", False, "info", "Reserved"),
    MetricSpec("device_used_gb", "GB", False, "info", "Device used (NVML)"),
    # Device time and work counters, from a separate profiled pass (``run.device``): the host
    # cannot move them, so they stay sharp on a fleet whose wall clock spreads tens of percent.
    MetricSpec("decode_kernel_us", "us/token", False, "device", "Kernel time/token", "gpu"),
    MetricSpec("prefill_kernel_us", "us/token", False, "device", "Prefill kernel time/token", "gpu"),
    MetricSpec("decode_kernels", "kernels/token", False, "count", "Kernels/token", "gpu"),
    MetricSpec("decode_launches", "launches/token", False, "count", "Launches/token", "host"),
    MetricSpec("decode_py_calls", "calls/token", False, "count", "Python calls/token", "host"),
    MetricSpec("decode_syncs", "syncs/token", False, "count", "Synchronisations/token", "host"),
    MetricSpec("decode_copies", "copies/token", False, "count", "Host<->device copies/token", "host"),
    # Allocation calls depend on the caching allocator's history in the process as much as on
    # the code path, so they explain a result and are not gated.
    MetricSpec("decode_allocs", "allocs/token", False, "info", "Allocations/token"),
    MetricSpec("decode_graph_launches", "graphs/token", False, "info", "Graph launches/token"),
    MetricSpec("decode_host_us", "us/token", False, "info", "Host time/token"),
    # Where the host's part went, in the profiled pass: blocked waiting for the GPU, or busy.
    MetricSpec("decode_sync_wait_us", "us/token", False, "info", "Host waiting for GPU/token"),
    MetricSpec("decode_host_busy_us", "us/token", False, "info", "Host busy/token (profiled)"),
    MetricSpec("gpu_busy_pct", "%", True, "info", "GPU busy"),
    MetricSpec("kernel_us_gemm", "us/token", False, "info", "GEMM"),
    MetricSpec("kernel_us_attention", "us/token", False, "info", "Attention"),
    MetricSpec("kernel_us_quant", "us/token", False, "info", "(De)quantize"),
    MetricSpec("kernel_us_norm", "us/token", False, "info", "Norm & elementwise"),
    MetricSpec("kernel_us_copy", "us/token", False, "info", "Copies"),
    MetricSpec("kernel_us_other", "us/token", False, "info", "Other kernels"),
    MetricSpec("energy_mj_per_token", "mJ/token", False, "info", "Energy/token"),
    MetricSpec("rss_gb", "GB", False, "info", "Process RSS"),
    MetricSpec("decode_gb_per_step", "GB", False, "info", "Bytes/step"),
    MetricSpec("decode_bandwidth_gbs", "GB/s", True, "info", "Decode BW"),
    MetricSpec("roofline_pct", "%", True, "info", "Roofline"),
    # Throughput over the reference method's from interleaved rounds (``run.interleave``): the
    # geometric mean of per-round ratios, its interval from the paired rounds (--qb-interleave).
    MetricSpec("decode_ratio", "x", True, "info", "Decode x FP16 (paired)"),
    MetricSpec("e2e_ratio", "x", True, "info", "End-to-end x FP16 (paired)"),
    MetricSpec("compile_s", "s", False, "info", "Compile"),
    MetricSpec("graph_breaks", "count", False, "info", "Graph breaks"),
    MetricSpec("cudagraph_skips", "count", False, "info", "CUDA graph skips"),
    MetricSpec("token_agreement", "fraction", True, "quality", "Agreement", "quality"),
    MetricSpec("top1_agreement", "fraction", True, "quality", "Top-1 agreement", "quality"),
    MetricSpec("kl_divergence", "nats", False, "quality", "KL", "quality"),
    MetricSpec("perplexity", "ppl", False, "quality", "Perplexity", "quality"),
]

SPECS: dict[str, MetricSpec] = {s.name: s for s in _SPECS}

DEFAULT_TOLERANCE_BY_KIND: dict[str, float] = {
    "throughput": 0.10,
    "latency": 0.10,
    "memory": 0.05,
    # Kernel time repeats within a fraction of a percent between rounds and machines (docs/gating.md).
    "device": 0.03,
    # Exact work counters: any change beyond rounding is a change of the work done.
    "count": 0.005,
    "quality": 0.0,
}


# Kinds never judged against a tolerance: info explains a result, quality has its thresholds.
UNGATED_KINDS = ("info", "quality")
# Kinds judged against a tolerance (``gated``): the default tolerances' kinds less the ungated.
GATED_KINDS = tuple(k for k in DEFAULT_TOLERANCE_BY_KIND if k not in UNGATED_KINDS)


def gated(name: str) -> bool:
    """Whether a metric is judged against a tolerance (speed, memory, device time, counts)."""
    return spec(name).kind not in UNGATED_KINDS


def spec(name: str) -> MetricSpec:
    """The spec of a metric; unknown names are reported as ungated ``info``."""
    return SPECS.get(name, MetricSpec(name, "", True, "info", name))

# How far apart two hosts' launch overheads (``run.host_probe``) may be before eager batch-1
# figures, which the launch path bounds, may be the machine's rather than the software's: the
# gate notes it beside a verdict, ``calibrate`` beside sessions it merges.
HOST_DIFFERENCE = 0.25
