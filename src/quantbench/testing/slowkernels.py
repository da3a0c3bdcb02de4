"""Test-only pytest plugin: make existing kernels slower without adding one.

Load it with ``-p quantbench.testing.slowkernels --qb-slow-kernels 0.1`` to prove the gate
catches the regression a library upgrade most often brings: the same kernels, each slower. The
GPU-work plugin (``testing.gpuwork``) adds kernels, so kernel counts catch it before kernel time
has to; here every decoder layer's MLP down projection gets extra output rows, ``fraction`` of
the layer's linear weights, computed by the same GEMM and sliced off (a view: no kernel), so
kernels, launches and outputs stay as they were and only kernel time grows. Only plain
``torch.nn.Linear`` layers with plain weights can be padded (FP16, BF16); bitsandbytes, autoawq
and torchao layers are left alone, and the model says how many layers it padded.
"""

from __future__ import annotations

from typing import Any

import pytest

from quantbench.testing import when_set
from quantbench.testing.gpuwork import decoder_layers, linear_weights


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("quantbench").addoption(
        "--qb-slow-kernels", dest="qb_slow_kernels", type=float, default=0.0,
        help="test only: pad each layer's down projection with this fraction of the layer's weights")


def _paddable(linear: Any) -> bool:
    import torch

    return type(linear) is torch.nn.Linear and type(linear.weight.data) is torch.Tensor


def pad_down_projections(model: Any, fraction: float) -> int:
    """Give every decoder layer's ``mlp.down_proj`` extra output rows worth ``fraction`` of the
    layer's linear weights, dropped from its output; returns the layers padded."""
    import torch

    if getattr(model, "_qb_slow_kernels", None) is not None:
        return 0
    gen = torch.Generator().manual_seed(0)
    padded = 0
    for layer in decoder_layers(model):
        down = getattr(getattr(layer, "mlp", None), "down_proj", None)
        if down is None or not _paddable(down):
            continue
        rows = max(1, round(fraction * linear_weights(layer) / down.in_features))
        weight = down.weight.data
        extra = torch.randn(rows, down.in_features, generator=gen).to(weight.device, weight.dtype)
        down.weight = torch.nn.Parameter(torch.cat([weight, extra]), requires_grad=False)
        if down.bias is not None:
            zeros = torch.zeros(rows, dtype=down.bias.dtype, device=down.bias.device)
            down.bias = torch.nn.Parameter(torch.cat([down.bias.data, zeros]), requires_grad=False)
        keep = down.out_features

        def forward(x: Any, down: Any = down, keep: int = keep) -> Any:
            return torch.nn.functional.linear(x, down.weight, down.bias)[..., :keep]

        down.forward = forward
        padded += 1
    model._qb_slow_kernels = padded
    return padded


def pytest_quantbench_model_loaded(model: Any, config: pytest.Config) -> None:
    """Every model the session loads gets padded down projections, when ``--qb-slow-kernels`` asks."""
    when_set(config, "qb_slow_kernels", pad_down_projections, model)
