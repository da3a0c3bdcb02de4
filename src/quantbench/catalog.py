"""quantbench's facts, each stated once: the methods, the reference method, the modes, and the
metrics it knows (unit, direction, kind) with the default tolerance of each kind.

The kind decides the default regression tolerance (throughput and latency 10 %, memory 5 %);
``info`` metrics (roofline shares, bytes per step) explain a result and are never gated;
``quality`` metrics are judged by thresholds against the reference method, not by drift.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_METHODS = ("fp16", "bf16", "int8", "nf4", "awq")
# Opt-in: bitsandbytes INT8 without outlier columns (compiles as one graph) and torchao's
# weight-only methods, built to compile (``--qb-methods fp16,int8vw,int8wo,int4wo``).
METHOD_NAMES = (*DEFAULT_METHODS, "int8vw", "int8wo", "int4wo")
# The method every other one is compared with (quality reference, speed and memory ratios).
REFERENCE_METHOD = "fp16"
MODES = ("eager", "compiled")


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str
    higher_is_better: bool
    kind: str  # throughput | latency | memory | quality | info
    label: str


_SPECS = [
    MetricSpec("prefill_tps", "tok/s", True, "throughput", "Prefill"),
    MetricSpec("ttft_ms", "ms", False, "latency", "TTFT"),
    MetricSpec("decode_tps", "tok/s", True, "throughput", "Decode"),
    MetricSpec("e2e_tps", "tok/s", True, "throughput", "End-to-end"),
    MetricSpec("token_p50_ms", "ms", False, "latency", "Token p50"),
    MetricSpec("token_p90_ms", "ms", False, "latency", "Token p90"),
    MetricSpec("token_p99_ms", "ms", False, "latency", "Token p99"),
    MetricSpec("weights_gb", "GB", False, "memory", "Weights"),
    MetricSpec("peak_gb", "GB", False, "memory", "Peak"),
    MetricSpec("reserved_gb", "GB", False, "memory", "Reserved"),
    MetricSpec("device_used_gb", "GB", False, "memory", "Device used (NVML)"),
    MetricSpec("rss_gb", "GB", False, "info", "Process RSS"),
    MetricSpec("decode_gb_per_step", "GB", False, "info", "Bytes/step"),
    MetricSpec("decode_bandwidth_gbs", "GB/s", True, "info", "Decode BW"),
    MetricSpec("roofline_pct", "%", True, "info", "Roofline"),
    MetricSpec("compile_s", "s", False, "info", "Compile"),
    MetricSpec("graph_breaks", "count", False, "info", "Graph breaks"),
    MetricSpec("cudagraph_skips", "count", False, "info", "CUDA graph skips"),
    MetricSpec("token_agreement", "fraction", True, "quality", "Agreement"),
    MetricSpec("kl_divergence", "nats", False, "quality", "KL"),
    MetricSpec("perplexity", "ppl", False, "quality", "Perplexity"),
]

SPECS: dict[str, MetricSpec] = {s.name: s for s in _SPECS}

DEFAULT_TOLERANCE_BY_KIND: dict[str, float] = {
    "throughput": 0.10,
    "latency": 0.10,
    "memory": 0.05,
    "quality": 0.0,
}


def spec(name: str) -> MetricSpec:
    """The spec of a metric; unknown names are reported as ungated ``info``."""
    return SPECS.get(name, MetricSpec(name, "", True, "info", name))
