"""torch's internals quantbench relies on: dynamo's counters and limits, the profiler's raw kineto
records and the tensor-subclass flattening protocol."""

from __future__ import annotations

from typing import Any, Callable

# torch 2.11 to 2.13: dynamo's process-global counters and compilation metrics
# (``torch._dynamo.utils.counters``, ``get_compilation_metrics``) are the only record of graph
# breaks and of graphs inductor ran without CUDA graphs.
def reset_dynamo() -> None:
    """Forget every compiled graph, guard and count, so the next model starts clean."""
    import torch._dynamo

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    torch._dynamo.utils.clear_compilation_metrics()


def dynamo_counts(on_gpu: bool) -> dict[str, Any]:
    """Graph breaks (with their reasons), unique graphs and, on a GPU, CUDA-graph skips."""
    from torch._dynamo.utils import counters, get_compilation_metrics

    reasons = counters["graph_break"]
    out: dict[str, Any] = {"graph_breaks": int(sum(reasons.values())),
                           "unique_graphs": int(counters["stats"]["unique_graphs"]),
                           "break_reasons": [r for r, _ in reasons.most_common(3)]}
    if on_gpu:
        skips = {m.cudagraph_skip_reason for m in get_compilation_metrics()
                 if m.cudagraph_skip_reason}
        out["cudagraph_skips"] = int(counters["inductor"]["cudagraph_skips"])
        out["cudagraph_skip_reasons"] = sorted(skips)[:3]
    return out


# torch 2.11 to 2.13 (read in 2.13's torch/autograd/profiler.py and torch/_C/_autograd.pyi): the raw
# kineto records behind torch.profiler, ``profile.profiler.kineto_results.events()``, are
# ``_KinetoEvent``s with ``name()``, ``activity_type()`` (libkineto's names: "kernel", "gpu_memcpy",
# "gpu_memset", "cuda_runtime", "cuda_driver", "gpu_user_annotation", ...) and ``duration_ns()``.
# The public ``profile.events()`` first builds a FunctionEvent tree over every record, which is slow
# for the ~10^5 kernels of one generation.
def cuda_activity(fn: Callable[[], Any],
                  before: Callable[[], Any] | None = None) -> list[tuple[str, str, int, int | None]]:
    """Run ``fn`` under torch.profiler's CUDA activity (kernels, copies, runtime and driver calls)
    and return each record's name, kineto activity type, duration and start in ns (the start
    ``None`` where this torch's records lack it); ``before`` runs first inside the same trace."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        if before is not None:
            before()
        fn()
        torch.cuda.synchronize()
    return [(e.name(), activity_type(e), e.duration_ns(),
             e.start_ns() if hasattr(e, "start_ns") else None)
            for e in prof.profiler.kineto_results.events()]


_SYNC_NAMES = ("Sync", "Wait Event")


def activity_type(event: Any) -> str:
    """A ``_KinetoEvent``'s libkineto activity type. torch 2.13 has ``activity_type()``; older torch
    (2.11, for one) has not, so there it is told from the device type: a record on the
    GPU is a kernel, copy, fill, sync or user annotation (by its name), a host record one of the
    CUDA runtime or driver calls the CUDA activity collects."""
    if hasattr(event, "activity_type"):
        return event.activity_type()
    from torch.autograd import DeviceType

    name = event.name()
    if event.device_type() != DeviceType.CUDA:
        return "cuda_driver" if name.startswith("cu") and not name.startswith("cuda") else "cuda_runtime"
    if event.is_user_annotation():
        return "gpu_user_annotation"
    if name.startswith("Memcpy"):
        return "gpu_memcpy"
    if name.startswith("Memset"):
        return "gpu_memset"
    return "cuda_sync" if any(s in name for s in _SYNC_NAMES) else "kernel"


def inner_tensors(t: Any) -> list[Any] | None:
    """The inner tensors of a tensor subclass (torchao's quantized weights own no storage of
    their own), via the private ``__tensor_flatten__`` protocol (torch 2.4-2.13); ``None`` for a
    plain tensor or parameter."""
    if hasattr(t, "__tensor_flatten__") and type(t).__name__ not in ("Parameter", "Tensor"):
        return [getattr(t, name) for name in t.__tensor_flatten__()[0]]
    return None


# torch 2.11 to 2.13 (torch/_inductor/async_compile.py): inductor compiles kernels in a pool of
# worker processes, sized when ``torch._inductor.config`` is first imported (the CPUs the process
# may use then) and started on first use (``AsyncCompile.warm_pool``); the workers run on the CPUs
# of the thread that starts the pool.
def start_compile_workers() -> bool:
    """Start inductor's compile workers now, on every CPU this process may use, so pinning the
    measuring thread to a few CPUs later does not confine compiling to them; whether a pool
    started (inductor compiles in-process with one compile thread)."""
    from torch._inductor import async_compile
    from torch._inductor.config import compile_threads

    warm = getattr(async_compile.AsyncCompile, "warm_pool", None)
    if warm is None or not compile_threads or compile_threads <= 1:
        return False
    warm()
    return True
