"""Internals of the model libraries quantbench loads through: transformers' compile switches,
torchao's skip reason and unwrapping, bitsandbytes' quantization state, safetensors' errors."""

from __future__ import annotations

import errno
import os
import re
import sys
from typing import Any

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
def unwrap_torchao(model: Any) -> str | None:
    """Unwrap ``model``'s torchao weights for ``torch.compile``; the note the report carries, or
    ``None`` when torchao was never imported or holds none of the weights.

    Why: dynamo guards on every tensor-subclass weight at every call of a compiled step, which
    costs a compiled loop much of what the quantized kernels save (docs/findings.md,
    "Where INT4's compiled time goes"). Weights that quantize their activations on the fly
    (``act_quant_kwargs``, fp8dq) stay wrapped: rebuilt inside the graph their constructor does
    not trace (``'Float8Tensor' object has no attribute
    'block_size'``; one fp8dq Linear traces with ``fullgraph=True`` as it is and fails unwrapped)."""
    if "torchao" not in sys.modules:
        return None
    from torch.nn.utils import parametrize
    from torchao.utils import TorchAOBaseTensor, unwrap_tensor_subclass

    weights = [p for p in model.parameters() if isinstance(p, TorchAOBaseTensor)]
    if not weights:
        return None
    if any(getattr(w, "act_quant_kwargs", None) is not None for w in weights):
        return (f"torchao weights left wrapped for torch.compile ({len(weights)} tensors): they quantize "
                "activations on the fly, which does not trace once unwrapped")
    unwrap_tensor_subclass(model)
    unwrapped = sum(parametrize.is_parametrized(m) for m in model.modules())
    return f"torchao weights unwrapped for torch.compile in {unwrapped} layers (torchao.utils.unwrap_tensor_subclass)"


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


def os_error_of(exc: BaseException, path: str) -> OSError | None:
    """The ``OSError`` inside a safetensors ``SafetensorError`` ("I/O error: No space left on
    device (os error 28)": safetensors' Rust writer reports errno only in its message), so a
    full or read-only cache reads as one; ``None`` for any other exception."""
    if type(exc).__name__ != "SafetensorError":
        return None
    found = re.search(r"\(os error (\d+)\)", str(exc))
    if not found:
        return None
    code = int(found.group(1))
    return OSError(code, os.strerror(code) if code in errno.errorcode else str(exc), path)


