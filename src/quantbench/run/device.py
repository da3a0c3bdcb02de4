"""Device work per generated token, read from the CUDA profiler in a pass of its own.

Why: on a shared fleet wall-clock figures spread tens of percent between machines, while the GPU
kernel time of one token and the number of kernels it takes are set by the software alone
(issue 11). The host cannot move them, so they keep the gate sharp.

How: three profiled calls, run after and apart from the timed rounds (profiling slows what it
watches): ``generate`` of N tokens, ``generate`` of 1 token and one prefill forward. Per decode
step = (N-token run − 1-token run) / (N − 1), so the prefill, the first token and per-call setup
cancel; at batch 1 a step is one generated token. Prefill figures are per prompt token
(batch × prompt length).

What counts (kineto's activity types, see ``compat.cuda_activity``):

* device ops: everything the GPU executed: kernels (``kernel``; on CUDA 12+ that includes
  kernels replayed inside CUDA graphs), copies and fills (``gpu_memcpy``, ``gpu_memset``). Their
  summed durations are the kernel time. GPU annotations and sync records are not work.
* launches: host-side calls that launch one kernel (``LAUNCH_CALLS``), and graph launches
  (``cudaGraphLaunch``), each counted once per call.
* host work beyond launches: synchronisations (``SYNC_CALLS``), host<->device copies (device copy
  records whose name says HtoD or DtoH) and allocation calls (``ALLOC_CALLS``).
* kernel time is a sum of durations, not their union: where streams overlap, the GPU-busy share
  (kernel time / wall time per step) overstates how busy the GPU was.
* where the host's time goes, from the same records' clocks: the time it sat blocked in the
  synchronising calls (``decode_sync_wait_us``), and the rest of a profiled step's span, first
  record to last (``decode_host_busy_us``, profiler overhead on each runtime call included). The
  GPU idles ``decode_host_us`` a step; when the host waits longer than the kernels run
  (``decode_sync_wait_us`` > ``decode_kernel_us``), at least the difference of that idling was
  the device's own (gaps between the kernels of a replayed graph), not the host's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Iterable, NamedTuple

from quantbench import compat
from quantbench.results import Metric
from quantbench.run.measure import MeasurementError
from quantbench.run.stopping import to_metric
from quantbench.stats import summarize

CPU_NOTE = "device time: not measured on the CPU"
FAMILIES = ("gemm", "attention", "quant", "norm", "copy", "other")
DEVICE_ACTIVITIES = frozenset({"kernel", "gpu_memcpy", "gpu_memset"})
HOST_ACTIVITIES = frozenset({"cuda_runtime", "cuda_driver"})
_CALLS = json.loads(resources.files("quantbench").joinpath("data/cuda_calls.json").read_text())
# Host calls that launch one kernel, and graph launches.
LAUNCH_CALLS = frozenset(_CALLS["launch"])
GRAPH_LAUNCH_CALLS = frozenset(_CALLS["graph_launch"])
# Calls that block the host until the device catches up (a ``.item()`` or ``.cpu()`` ends in one).
SYNC_CALLS = frozenset(_CALLS["sync"])
# Allocation and free calls of the runtime and the driver.
ALLOC_CALLS = frozenset(_CALLS["alloc"])
# Device copy records name their direction: "Memcpy HtoD (Pageable -> Device)".
_TRANSFER = re.compile(r"\b(HtoD|DtoH)\b")
# CUPTI may name a call with its per-thread-stream or version suffix (cudaLaunchKernel_ptsz).
_CALL_SUFFIX = re.compile(r"(_ptsz|_ptds|_v\d+)+$")

# Family rules, tried in this order on the lower-cased kernel name; the first match wins.
_RULES = (
    ("attention", re.compile(r"flash|fmha|sdpa|attention|attn|softmax|xformers")),
    ("quant", re.compile(r"quant|(?<![a-z])(int4|int8|nf4|fp4|awq|gptq|bnb)|marlin|4bit"
                         r"|tinygemm|kgetrowstats|kgetcolrowstats")),
    ("gemm", re.compile(r"gemm|gemv|cutlass|cublas|xmma|matmul|wgmma|nvjet|splitkreduce"
                        r"|(?<![a-z])(mm|bmm|addmm)(?![a-z])")),
)
_COPY = re.compile(r"memcpy|memset|copy|catarray|gather|scatter|indexselect|index_select"
                   r"|index_put|index_elementwise|index_kernel|embedding|transpose|permute")
_NORM = re.compile(r"norm|rms|elementwise|vectorized|reduce|silu|gelu|relu|sigmoid|tanh|softplus"
                   r"|act_and_mul|activation|add|mul|div|pow|sqrt|exp|mean|sum|argmax|argmin|max"
                   r"|min|where|clamp|fill|cumsum|rotary|bias")
# torch.compile's Triton kernels are named after the ops they fuse: triton_poi_fused_add_mul_0.
_TRITON = re.compile(r"^triton_[a-z]+_fused_(.*?)(_\d+)?$")
_TRITON_NORM_OPS = frozenset({"mean", "rsqrt", "var", "norm"})
_TRITON_COPY_OPS = frozenset({"", "to", "copy", "clone", "cat", "index", "put", "select", "slice",
                              "view", "unsqueeze", "squeeze", "permute", "transpose", "expand",
                              "constant", "pad", "lift", "fresh", "scatter", "gather"})


@lru_cache(maxsize=4096)
def family(kernel_name: str) -> str:
    """The family a kernel's time is reported under: gemm, attention, quant, norm, copy or other.

    Rules, in order, on the lower-cased name (the first match wins):

    1. attention: flash, fmha, sdpa, attention, attn, softmax, xformers (before GEMM: the
       memory-efficient kernel is ``fmha_cutlass…``);
    2. quant: quant (de/quantize), int4, int8, nf4, fp4, awq, gptq, bnb, marlin, 4bit,
       tinygemm, bitsandbytes' row/column stats (before GEMM: fused dequantize-matmuls such as
       ``kgemm_4bit_inference_naive`` and ``tinygemm`` count as the method's own kernels);
    3. gemm: gemm, gemv, cutlass, cublas, xmma, matmul, wgmma, nvjet, splitKreduce, or a
       fused-op token mm, bmm, addmm (Triton matmul templates);
    4. torch.compile's ``triton_*_fused_<ops>`` kernels: norm when the ops include mean, rsqrt,
       var or norm; copy when every op only moves data (_to_copy, cat, index_put, …); else norm;
    5. copy: memcpy, memset, copy, CatArrayBatchedCopy, gather, scatter, index select/put,
       embedding, transpose, permute;
    6. norm (norm and elementwise): norm, rms, elementwise, vectorized, reduce, activations,
       arithmetic, reductions, fill, rotary, bias;
    7. other.
    """
    name = kernel_name.lower()
    for fam, rule in _RULES:
        if rule.search(name):
            return fam
    triton = _TRITON.match(name)
    if triton:
        ops = set(triton.group(1).split("_"))
        if ops & _TRITON_NORM_OPS:
            return "norm"
        return "copy" if ops <= _TRITON_COPY_OPS else "norm"
    if _COPY.search(name):
        return "copy"
    return "norm" if _NORM.search(name) else "other"


class Event(NamedTuple):
    """One profiler record, reduced to what the figures need."""

    name: str
    duration_us: float = 0.0
    device: bool = False  # executed on the GPU: a kernel, copy or fill
    launch: bool = False  # a host-side call that launched one kernel
    graph_launch: bool = False  # a host-side CUDA graph launch
    sync: bool = False  # a host-side call that waits for the device
    transfer: bool = False  # a copy between host and device memory (on the device)
    alloc: bool = False  # a host-side device- or pinned-memory allocation or free
    start_us: float | None = None  # on the profiler's clock, where the record gives it


def events_from_activity(records: Iterable[tuple]) -> list[Event]:
    """Events from ``(name, kineto activity type, duration ns[, start ns])`` records; others
    are dropped. A synchronising call keeps its duration: how long the host waited."""
    out = []
    for name, activity, duration_ns, *start in records:
        start_us = start[0] / 1000 if start and start[0] is not None else None
        if activity in DEVICE_ACTIVITIES:
            out.append(Event(name, duration_ns / 1000, device=True,
                             transfer=activity == "gpu_memcpy" and bool(_TRANSFER.search(name)),
                             start_us=start_us))
        elif activity in HOST_ACTIVITIES:
            call = _CALL_SUFFIX.sub("", name)
            if call in LAUNCH_CALLS:
                out.append(Event(name, launch=True, start_us=start_us))
            elif call in GRAPH_LAUNCH_CALLS:
                out.append(Event(name, graph_launch=True, start_us=start_us))
            elif call in SYNC_CALLS:
                out.append(Event(name, duration_ns / 1000, sync=True, start_us=start_us))
            elif call in ALLOC_CALLS:
                out.append(Event(name, alloc=True, start_us=start_us))
    return out


@dataclass(frozen=True)
class DeviceWork:
    """Device work of one profiled call, or per unit (step, token) after ``per_unit``."""

    kernel_us: float
    kernels: float
    launches: float
    graph_launches: float
    by_family: dict[str, float] = field(default_factory=dict)
    syncs: float = 0.0
    transfers: float = 0.0
    allocs: float = 0.0
    sync_wait_us: float = 0.0  # the host blocked in synchronising calls
    span_us: float | None = None  # first record's start to last record's end, where timed


def device_work(events: Iterable[Event]) -> DeviceWork:
    """Sum kernel time, count device ops and launches, split kernel time by family, and sum the
    host's waits; the span when every event has a start."""
    kernel_us = kernels = launches = graphs = syncs = transfers = allocs = wait_us = 0.0
    by_family = dict.fromkeys(FAMILIES, 0.0)
    first, last, timed = float("inf"), float("-inf"), True
    for e in events:
        if e.device:
            kernel_us += e.duration_us
            kernels += 1
            by_family[family(e.name)] += e.duration_us
        launches += e.launch
        graphs += e.graph_launch
        syncs += e.sync
        wait_us += e.duration_us if e.sync else 0.0
        transfers += e.transfer
        allocs += e.alloc
        if e.start_us is None:
            timed = False
        else:
            first, last = min(first, e.start_us), max(last, e.start_us + e.duration_us)
    span = last - first if timed and last >= first else None
    return DeviceWork(kernel_us, kernels, launches, graphs, by_family, syncs, transfers, allocs,
                      wait_us, span)


def per_unit(longer: DeviceWork, shorter: DeviceWork, units: int) -> DeviceWork:
    """(longer − shorter) / units. A family with no work per unit reads ~0 ± the runs' noise;
    its negative noise is shown as 0."""
    def diff(a: float, b: float) -> float:
        return (a - b) / units

    return DeviceWork(diff(longer.kernel_us, shorter.kernel_us),
                      diff(longer.kernels, shorter.kernels),
                      diff(longer.launches, shorter.launches),
                      diff(longer.graph_launches, shorter.graph_launches),
                      {f: max(0.0, diff(longer.by_family.get(f, 0.0),
                                        shorter.by_family.get(f, 0.0)))
                       for f in FAMILIES},
                      diff(longer.syncs, shorter.syncs), diff(longer.transfers, shorter.transfers),
                      diff(longer.allocs, shorter.allocs),
                      diff(longer.sync_wait_us, shorter.sync_wait_us),
                      None if longer.span_us is None or shorter.span_us is None
                      else diff(longer.span_us, shorter.span_us))


Profile = Callable[[Callable[[], Any]], list[Event]]


def _cuda_profile(fn: Callable[[], Any]) -> list[Event]:
    return events_from_activity(compat.cuda_activity(fn))


def _generate(engine: Any, prompt: Any, tokens: int) -> None:
    # NoneType() returns None without a Python frame: the step hook adds nothing to profile.
    produced = engine.generate(prompt, tokens, type(None))
    if produced != tokens:
        raise MeasurementError(f"profiled generation produced {produced} tokens, expected {tokens}")


def device_metrics(engine: Any, prompt: Any, new_tokens: int, decode_step_ms: float | None, *,
                   rounds: int = 1, profile: Profile | None = None) -> dict[str, Metric]:
    """Kernel time, device ops, launches and kernel time by family per decode step, and kernel
    time per prompt token, from ``rounds`` profiled rounds (each: N tokens, 1 token, prefill).

    ``decode_step_ms`` (wall time per step from the timed rounds) adds host time per step (wall
    minus kernel time, floored at 0) and the GPU-busy share. Without a GPU (and no ``profile``
    given) returns ``{}``: the caller notes ``CPU_NOTE`` instead of a figure.
    """
    if new_tokens < 2:
        raise ValueError("per-step device work needs at least 2 new tokens")
    if profile is None:
        if not getattr(engine, "on_gpu", False):
            return {}
        profile = _cuda_profile
    prompt_tokens = prompt.batch * prompt.length
    steps: list[DeviceWork] = []
    prefill_us: list[float] = []
    for _ in range(rounds):
        many = device_work(profile(lambda: _generate(engine, prompt, new_tokens)))
        one = device_work(profile(lambda: _generate(engine, prompt, 1)))
        prefill = device_work(profile(lambda: engine.prefill(prompt)))
        if not (many.kernels and prefill.kernels):  # else "no GPU work" would pass as a gain
            raise MeasurementError("the CUDA profiler recorded no kernels for a generate call or a "
                                   "prefill (is another profiler holding CUPTI?)")
        steps.append(per_unit(many, one, new_tokens - 1))
        prefill_us.append(prefill.kernel_us / prompt_tokens)
    return _metrics(steps, prefill_us, decode_step_ms)


def _metrics(steps: list[DeviceWork], prefill_us: list[float],
             decode_step_ms: float | None) -> dict[str, Metric]:
    def metric(name: str, values: list[float], stop: str) -> Metric:
        return to_metric(name, summarize(values), stop)

    kernel_us = [s.kernel_us for s in steps]
    out = {
        "decode_kernel_us": metric("decode_kernel_us", kernel_us, "fixed"),
        "prefill_kernel_us": metric("prefill_kernel_us", prefill_us, "fixed"),
        "decode_kernels": metric("decode_kernels", [s.kernels for s in steps], "exact"),
        "decode_launches": metric("decode_launches", [s.launches for s in steps], "exact"),
        "decode_graph_launches": metric("decode_graph_launches",
                                        [s.graph_launches for s in steps], "exact"),
        "decode_syncs": metric("decode_syncs", [s.syncs for s in steps], "exact"),
        "decode_copies": metric("decode_copies", [s.transfers for s in steps], "exact"),
        "decode_allocs": metric("decode_allocs", [s.allocs for s in steps], "exact"),
        "decode_sync_wait_us": metric("decode_sync_wait_us",
                                      [max(0.0, s.sync_wait_us) for s in steps], "fixed"),
    }
    if all(s.span_us is not None for s in steps):
        out["decode_host_busy_us"] = metric(
            "decode_host_busy_us", [max(0.0, s.span_us - s.sync_wait_us) for s in steps], "fixed")
    for fam in FAMILIES:
        out[f"kernel_us_{fam}"] = metric(f"kernel_us_{fam}", [s.by_family[fam] for s in steps],
                                         "fixed")
    if decode_step_ms and decode_step_ms > 0:
        wall_us = decode_step_ms * 1000
        out["decode_host_us"] = metric("decode_host_us",
                                       [max(0.0, wall_us - k) for k in kernel_us], "fixed")
        out["gpu_busy_pct"] = metric("gpu_busy_pct", [k / wall_us * 100 for k in kernel_us],
                                     "fixed")
    return out
