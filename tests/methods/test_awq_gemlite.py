"""``awq-gemlite``: autoawq's GEMM checkpoint unpacked into the integers, zeros and scales
gemlite takes, whose AWQ reconstruction ``(q - z) * s`` is autoawq's own dequantized weight,
bit for bit; on a CPU the method is unavailable with its reason (gemlite is Triton only)."""

from __future__ import annotations

import pytest
import torch

from quantbench.methods import METHODS, unavailable_reason
from quantbench.methods.awq_gemlite import reconstruct, unpack_gemm
from quantbench.methods.awq_rtn import pack_gemm, rtn_quantize

dequantize_gemm = pytest.importorskip("awq.utils.packing_utils").dequantize_gemm


@pytest.mark.parametrize(("out_features", "in_features", "group"), [(64, 256, 128), (96, 128, 32)])
def test_reconstructed_weights_equal_autoawqs_dequantized_ones(out_features: int, in_features: int,
                                                               group: int) -> None:
    gen = torch.Generator().manual_seed(out_features)
    weight = torch.randn(out_features, in_features, generator=gen).half()
    buffers = pack_gemm(*rtn_quantize(weight, group), group)
    w_q, zeros, scales = unpack_gemm(buffers["qweight"], buffers["qzeros"], buffers["scales"])
    assert w_q.shape == (out_features, in_features) and w_q.dtype == torch.uint8
    assert zeros.shape == scales.shape == (out_features, in_features // group)
    assert int(w_q.max()) <= 15 and int(zeros.max()) <= 15
    ours = reconstruct(w_q, zeros, scales, group)
    theirs = dequantize_gemm(buffers["qweight"], buffers["qzeros"], buffers["scales"], 4, group)
    assert ours.dtype == theirs.dtype == torch.float16
    assert torch.equal(ours, theirs.t())
    assert (ours - weight).abs().max() <= scales.max()  # and it is the weight, to one step


def test_on_a_cpu_the_method_is_unavailable_with_its_reason() -> None:
    assert not METHODS["awq-gemlite"].cpu_ok
    assert unavailable_reason("awq-gemlite", "cpu") == "awq-gemlite needs a CUDA GPU"
    assert METHODS["awq-gemlite"].prepare is METHODS["awq"].prepare  # the same cached checkpoint
