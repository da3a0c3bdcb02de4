"""AWQ on gemlite's Triton kernels (``awq-gemlite``): the same AWQ checkpoint, another GEMM.

Why: quantbench's ``awq`` runs autoawq's own Triton GEMM, which autoawq's PR #608 calls about
20 % slower than vLLM's kernel, so its speed answers for that kernel, not for AWQ. gemlite (pure
Python and Triton) runs 4-bit grouped weights in AWQ's own form, ``(q - z) * s``, with kernels
picked and autotuned per shape, as serving stacks do. This method loads the ``awq`` method's
checkpoint (the cached quantization or ``--qb-awq-model``, autoawq's GEMM format) and swaps
every ``WQLinear_GEMM`` for a gemlite layer holding the same integers, zeros and scales
(``fma_mode`` off, so gemlite computes ``(q - z) * s`` and not a fused ``q * s - z * s``).

``unpack_gemm`` undoes autoawq's packing and ``reconstruct`` applies AWQ's formula; the CPU tests
check that the two give autoawq's own dequantized weights exactly. gemlite's kernels need a CUDA
GPU (Triton >= 3.6).
"""

from __future__ import annotations

from typing import Any

from quantbench import compat
from quantbench.methods import awq
from quantbench.methods.base import LoadedModel, LoadRequest

W_BIT = 4


def unpack_gemm(qweight: Any, qzeros: Any, scales: Any) -> tuple[Any, Any, Any]:
    """autoawq's GEMM buffers (``qweight`` (in, out/8) int32, ``qzeros`` (groups, out/8),
    ``scales`` (groups, out)) as gemlite takes them: the 4-bit integers ``(out, in)`` uint8,
    zeros and scales ``(out, groups)`` in the scales' dtype."""
    import torch

    def unpack(packed: Any) -> Any:
        values = torch.empty((packed.shape[0], packed.shape[1] * 8), dtype=torch.int32,
                             device=packed.device)
        for i, column in enumerate(compat.awq_pack_order()):
            values[:, column::8] = (packed >> (i * W_BIT)) & (2**W_BIT - 1)
        return values

    w_q = unpack(qweight).t().contiguous().to(torch.uint8)
    zeros = unpack(qzeros).t().contiguous().to(scales.dtype)
    return w_q, zeros, scales.t().contiguous()


def reconstruct(w_q: Any, zeros: Any, scales: Any, group: int) -> Any:
    """AWQ's weight ``(q - z) * s``, ``(out, in)``, from ``unpack_gemm``'s output, computed as
    autoawq dequantizes (integers subtracted, then scaled in the scales' dtype)."""
    import torch

    q = w_q.to(torch.int32)
    z = zeros.to(torch.int32).repeat_interleave(group, dim=1)
    return (q - z) * scales.repeat_interleave(group, dim=1)


def gemlite_layer(layer: Any) -> Any:
    """A gemlite layer with ``layer``'s (an autoawq ``WQLinear_GEMM``) weights."""
    from gemlite.core import DType, GemLiteLinearTriton

    w_q, zeros, scales = unpack_gemm(layer.qweight, layer.qzeros, layer.scales)
    dtype = {"torch.float16": DType.FP16, "torch.bfloat16": DType.BF16}[str(scales.dtype)]
    out = GemLiteLinearTriton(W_BIT, group_size=layer.group_size, in_features=layer.in_features,
                              out_features=layer.out_features, input_dtype=dtype, output_dtype=dtype)
    out.pack(w_q, scales, zeros, bias=layer.bias, fma_mode=False)
    return out


def swap_layers(model: Any) -> int:
    """Replace every autoawq GEMM layer of ``model`` by its gemlite twin; how many."""
    gemm = compat.awq_gemm_class("cuda")
    targets = [(name, module) for name, module in model.named_modules() if isinstance(module, gemm)]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, gemlite_layer(module))
    return len(targets)


def load(req: LoadRequest) -> LoadedModel:
    """The ``awq`` method's model with its GEMM layers on gemlite's kernels."""
    loaded = awq.load(req)
    swapped = swap_layers(loaded.model)
    notes = [*loaded.notes, f"AWQ on gemlite's Triton kernels: {swapped} autoawq GEMM layers "
                            "swapped for gemlite layers with the same integers, zeros and scales"]
    return LoadedModel("awq-gemlite", loaded.model, loaded.dtype.replace("int4 weights",
                                                                          "int4 weights, gemlite"), notes)
