"""Every private or internal third-party API quantbench relies on, in one place.

Each hook names the versions it was checked against; when an upgrade breaks one, this is the
only file to look at. Third-party packages are imported inside each hook, so importing this
module costs nothing.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterable


# pytest-benchmark 5.1 (checked 5.1.0 to 5.2.x): ``BenchmarkFixture._make_stats`` is the one entry
# point for timings measured outside its own timer, and ``_mode`` marks the fixture as used (an
# unused fixture is reported as an error).
def record_rounds(benchmark: Any, label: str, round_seconds: Iterable[float]) -> None:
    """Put externally timed rounds into pytest-benchmark's statistics for this test."""
    benchmark._mode = label
    if getattr(benchmark, "disabled", False):
        return
    seconds = list(round_seconds)
    if not seconds:
        return
    stats = benchmark._make_stats(1)
    for value in seconds:
        stats.update(value)


def mark_used(benchmark: Any, label: str) -> None:
    """Mark pytest-benchmark's fixture as used by a test that records no timings (quality)."""
    benchmark._mode = label


# transformers 5.17: ``CompileConfig._compile_all_devices`` makes ``generate`` compile on any device
# (by default it compiles on a GPU only).
def compile_config(on_gpu: bool) -> Any:
    """transformers' compile config: CUDA graphs on a GPU, inductor's default mode elsewhere."""
    from transformers import CompileConfig

    config = CompileConfig(fullgraph=False, mode="reduce-overhead" if on_gpu else "default")
    config._compile_all_devices = True
    return config


# transformers 5.17: a quantizer's ``is_compileable`` property decides whether ``generate`` compiles;
# bitsandbytes' quantizers say no although their kernels are registered torch custom ops.
def allow_compile(model: Any) -> str | None:
    """Let transformers auto-compile ``model`` although its quantizer is not marked compileable.

    Only this model's quantizer changes (its class is swapped for a subclass that says yes);
    returns the note the report carries, or ``None`` when there was nothing to lift."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None or quantizer.is_compileable:
        return None
    cls = type(quantizer)
    quantizer.__class__ = type(cls.__name__, (cls,), {"is_compileable": property(lambda _: True)})
    return (f"compiled by quantbench: transformers does not mark {cls.__name__} compileable, "
            "so it would have run eager")


# torch 2.11 to 2.13: dynamo's process-global counters and compilation metrics
# (``torch._dynamo.utils.counters``, ``get_compilation_metrics``) are the only record of graph
# breaks and of graphs inductor ran without CUDA graphs.
def reset_dynamo() -> None:
    """Forget every compiled graph, guard and count, so the next model starts clean."""
    import torch._dynamo

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    torch._dynamo.utils.clear_compilation_metrics()


def allow_recompiles(n: int) -> None:
    """Let dynamo keep ``n`` compiled variants of one function: ``torch._dynamo.config``'s
    ``recompile_limit`` (8) counts every model of one architecture resident at once (interleaved
    rounds), each compiling the same ``forward`` under its own guards, and past it runs eager."""
    import torch._dynamo.config as config

    config.recompile_limit = max(config.recompile_limit, n)


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


# torchao 0.18: ``torchao._skip_reason`` holds why torchao skipped loading its compiled kernels
# (for example an incompatible torch); it has no public accessor.
def torchao_skip_reason() -> str | None:
    """torchao's own reason for running without its kernels, if it gave one."""
    import torchao

    return getattr(torchao, "_skip_reason", None)


# torchao 0.18: ``torchao.utils.unwrap_tensor_subclass`` is torchao's own workaround ("we hope this can
# be integrated into compile stack soon", pytorch/ao#345), not a stable API: it registers a
# parametrization on each Linear/Embedding whose weight is a ``TorchAOBaseTensor``, so the module
# holds plain tensors and the subclass is rebuilt inside the traced graph.
def unwrap_torchao(model: Any) -> int:
    """Unwrap ``model``'s torchao weights for ``torch.compile``; the number of layers unwrapped
    (0 when torchao was never imported or holds none of the weights).

    Why: dynamo guards on every tensor-subclass weight at every call of a compiled step. On one
    H200 a gpt-fast-style loop at 7B shapes ran int4wo at 98-134 tok/s as loaded and 163-168 after
    unwrapping (issue 24, measured 2026-12-02 by a previous session)."""
    import sys

    if "torchao" not in sys.modules:
        return 0
    from torch.nn.utils import parametrize
    from torchao.utils import TorchAOBaseTensor, unwrap_tensor_subclass

    if not any(isinstance(p, TorchAOBaseTensor) for p in model.parameters()):
        return 0
    unwrap_tensor_subclass(model)
    return sum(parametrize.is_parametrized(m) for m in model.modules())


@functools.cache
def awq_gemm_linear() -> type:
    """autoawq's ``WQLinear_GEMM`` with its kernel chosen by where the input is, not what is installed.

    autoawq 0.2.9 picks the kernel by import: its CUDA extension, else Triton whenever ``triton``
    imports (autoawq requires triton, so pip installs it on every Linux box), else
    dequantise-then-matmul. Triton's kernel needs a GPU tensor: given a CPU tensor it fails
    inside ``torch.cuda`` (``'<' not supported between 'NoneType' and 'int'``). This subclass
    runs autoawq's own fallback on a CPU input and autoawq's forward, unchanged, anywhere else.
    """
    import torch
    # Hook, checked against autoawq 0.2.9 with torch 2.13.0: awq.utils.packing_utils.dequantize_gemm
    # is an internal helper, and the subclass reads WQLinear_GEMM's buffers (qweight, qzeros,
    # scales, bias) and attributes (w_bit, group_size, out_features, training) the way the
    # fallback branch of awq.modules.linear.gemm.WQLinearMMFunction.forward does.
    from awq.modules.linear.gemm import WQLinear_GEMM
    from awq.utils.packing_utils import dequantize_gemm

    class DeviceAwareWQLinearGEMM(WQLinear_GEMM):
        """``WQLinear_GEMM`` that dequantises then multiplies when its input is on the CPU."""

        def forward(self, x: Any) -> Any:
            if x.device.type != "cpu":
                return super().forward(x)
            out_shape = x.shape[:-1] + (self.out_features,)
            with contextlib.nullcontext() if self.training else torch.no_grad():
                weight = dequantize_gemm(self.qweight, self.qzeros, self.scales,
                                         self.w_bit, self.group_size)
                out = torch.matmul(x.to(torch.float16), weight)
                if self.bias is not None:
                    out = out + self.bias
            return out.to(x.dtype).reshape(out_shape)

    return DeviceAwareWQLinearGEMM


@functools.cache
def awq_quantizer(clip_tokens: int | None = None) -> type:
    """autoawq's ``AwqQuantizer`` with its scale search able to undo its trials on a CPU, and the
    clipping search's token sample set to ``clip_tokens`` (None: autoawq's 512).

    autoawq 0.2.9's ``_compute_best_scale`` snapshots the inspected module as
    ``{k: v.cpu() for k, v in module.state_dict().items()}``, scales each linear's weight in place
    for each of its 20 trial ratios, and restores the snapshot after each. On a GPU ``.cpu()``
    copies; on a CPU it returns the very tensor being scaled, so the "snapshot" is the first trial's
    scaled weight and the search leaves every searched linear multiplied by it, with no inverse
    applied to the layer before. SmolLM2-135M calibrated this way on a CPU scored perplexity
    74,431 against 39.56 (docs/results/cpu-2026-11-26/). This subclass makes the snapshot a copy
    for the length of each search, by a state-dict post-hook on the inspected module.

    The clipping search costs (tokens sampled) x (weights) x 20 trials whatever the calibration
    size; with 512 tokens it is most of the 784 s SmolLM2's search takes on 2 CPU cores.
    """
    # Hook, checked against autoawq 0.2.9 with torch 2.13.0: AwqQuantizer._compute_best_scale and
    # _compute_best_clip (w, input_feat, n_grid, max_shrink, n_sample_token) are internal;
    # AutoAWQForCausalLM.quantize takes the class as ``quantizer_cls``.
    from awq.quantize.quantizer import AwqQuantizer

    def copy_cpu_tensors(module: Any, state: dict, prefix: str, metadata: Any) -> None:
        for key, value in state.items():
            if value.device.type == "cpu":
                state[key] = value.detach().clone()

    class SnapshotAwqQuantizer(AwqQuantizer):
        """``AwqQuantizer`` whose scale search restores the original weights on a CPU too."""

        def _compute_best_scale(self, x: Any, w_mean: Any, x_mean: Any, module2inspect: Any,
                                *args: Any, **kwargs: Any) -> Any:
            handle = module2inspect.register_state_dict_post_hook(copy_cpu_tensors)
            try:
                return super()._compute_best_scale(x, w_mean, x_mean, module2inspect, *args, **kwargs)
            finally:
                handle.remove()

        def _compute_best_clip(self, w: Any, input_feat: Any, *args: Any, **kwargs: Any) -> Any:
            if clip_tokens is not None and not args:
                kwargs["n_sample_token"] = clip_tokens
            return super()._compute_best_clip(w, input_feat, *args, **kwargs)

    return SnapshotAwqQuantizer


# torch 2.11 to 2.13 (read in 2.13's torch/autograd/profiler.py and torch/_C/_autograd.pyi): the raw
# kineto records behind torch.profiler, ``profile.profiler.kineto_results.events()``, are
# ``_KinetoEvent``s with ``name()``, ``activity_type()`` (libkineto's names: "kernel", "gpu_memcpy",
# "gpu_memset", "cuda_runtime", "cuda_driver", "gpu_user_annotation", ...) and ``duration_ns()``.
# The public ``profile.events()`` first builds a FunctionEvent tree over every record, which is slow
# for the ~10^5 kernels of one generation.
def cuda_activity(fn: Callable[[], Any]) -> list[tuple[str, str, int]]:
    """Run ``fn`` under torch.profiler's CUDA activity (kernels, copies, runtime and driver calls)
    and return each record's name, kineto activity type and duration in ns."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return [(e.name(), activity_type(e), e.duration_ns())
            for e in prof.profiler.kineto_results.events()]


_SYNC_NAMES = ("Sync", "Wait Event")


def activity_type(event: Any) -> str:
    """A ``_KinetoEvent``'s libkineto activity type. torch 2.13 has ``activity_type()``; torch 2.11
    (the lent H100s' image) has not, so there it is told from the device type: a record on the
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


def os_error_of(exc: BaseException, path: str) -> OSError | None:
    """The ``OSError`` inside a safetensors ``SafetensorError`` ("I/O error: No space left on
    device (os error 28)": safetensors' Rust writer reports errno only in its message), so a
    full or read-only cache reads as one; ``None`` for any other exception."""
    import errno
    import os
    import re

    if type(exc).__name__ != "SafetensorError":
        return None
    found = re.search(r"\(os error (\d+)\)", str(exc))
    if not found:
        return None
    code = int(found.group(1))
    return OSError(code, os.strerror(code) if code in errno.errorcode else str(exc), path)


def inner_tensors(t: Any) -> list[Any] | None:
    """The inner tensors of a tensor subclass (torchao's quantized weights own no storage of
    their own), via the private ``__tensor_flatten__`` protocol (torch 2.4-2.13); ``None`` for a
    plain tensor or parameter."""
    if hasattr(t, "__tensor_flatten__") and type(t).__name__ not in ("Parameter", "Tensor"):
        return [getattr(t, name) for name in t.__tensor_flatten__()[0]]
    return None


def quant_state_tensors(param: Any) -> list[Any]:
    """The tensors bitsandbytes keeps outside a 4-bit parameter, in its ``quant_state``
    (``absmax``, ``code``, and the nested ``state2.absmax`` of double quantization; checked on
    bitsandbytes 0.45-0.50)."""
    state = getattr(param, "quant_state", None)
    if state is None:
        return []
    found = [v for v in (getattr(state, "absmax", None), getattr(state, "code", None)) if v is not None]
    nested = getattr(state, "state2", None)
    return found + ([nested.absmax] if nested is not None else [])


def xdist_worker_count(config: Any) -> int:
    """How many workers pytest-xdist will start, from its private ``parse_tx_spec_config``
    (pytest-xdist 3.5-3.8)."""
    from xdist.workermanage import parse_tx_spec_config

    return len(parse_tx_spec_config(config))
