"""The memory roofline: how fast decode could be if it only had to move its bytes.

At batch 1 a decode step must read every weight once and the KV cache so far. The device's copy
bandwidth, measured once per session (bytes read plus written by a large device-to-device copy),
bounds how fast that can go. A method at a small share of that bound is limited by per-step
overhead (kernel launches, Python, dequantisation), not by memory, so shrinking its weights
cannot make it faster until the overhead is gone.
"""

from __future__ import annotations

from typing import Any

from quantbench.catalog import spec
from quantbench.run.memory import GB, tensor_bytes
from quantbench.results import Metric
from quantbench.stats import summarize
from quantbench.run.timing import Clock


def copy_bandwidth_gbs(device: str, clock: Clock, nbytes: int = 1 << 30, rounds: int = 10) -> float:
    """Median GB/s of a ``nbytes`` copy on ``device``, counting bytes read plus bytes written."""
    import torch

    src = torch.randn(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    clock.sync()
    times = []
    for _ in range(rounds):
        start = clock.mark()
        dst.copy_(src)
        end = clock.mark()
        clock.sync()
        times.append(clock.elapsed_ms(start, end))
    del src, dst
    median_ms = summarize(times).median
    return 2 * nbytes / (median_ms / 1000) / GB


def weight_bytes_per_step(model: Any) -> int:
    """Weight bytes one decode step reads: all tensors, less an untied input embedding table
    (a lookup reads one row of it, not the whole table)."""
    total = tensor_bytes(model)
    tied = bool(getattr(getattr(model, "config", None), "tie_word_embeddings", False))
    embed = getattr(model, "get_input_embeddings", lambda: None)()
    if embed is not None and not tied:
        total -= embed.weight.numel() * embed.weight.element_size()
    return total


def kv_bytes_per_step(config: Any, batch: int, context: float, element_size: int) -> float:
    """KV-cache bytes one decode step reads at a given context length (keys and values)."""
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return 2 * config.num_hidden_layers * heads * head_dim * context * element_size * batch


def roofline_metrics(bytes_per_step: float, steps_per_s: float, peak_gbs: float | None) -> dict[str, Metric]:
    """Bytes per step, the bandwidth decode achieved, and its share of the measured peak."""
    def exact(name: str, value: float) -> Metric:
        s = spec(name)
        return Metric.exact(name, s.unit, value, higher_is_better=s.higher_is_better)

    achieved = bytes_per_step * steps_per_s / GB
    out = {
        "decode_gb_per_step": exact("decode_gb_per_step", bytes_per_step / GB),
        "decode_bandwidth_gbs": exact("decode_bandwidth_gbs", achieved),
    }
    if peak_gbs:
        out["roofline_pct"] = exact("roofline_pct", 100.0 * achieved / peak_gbs)
    return out
