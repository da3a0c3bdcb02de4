"""Test-only pytest plugin: add a known fraction of GPU work to every decoder layer.

Load it with ``-p quantbench.testing.gpuwork --qb-gpu-work 0.1`` to prove the gate catches a
GPU-side regression by device time and kernels per token, not only by the wall clock (whose
spread between machines hides it). Each decoder layer gets two extra matmuls after its forward,
``h @ A @ B`` with ``A`` of shape ``hidden x k`` and ``B`` of ``k x hidden``, sized so their
weights are ``fraction`` of the layer's linear weights (counted unquantized), in the model's
activation dtype; their product is added times zero, so
the outputs stay the same while the GPU does the work (a float multiply by zero is not folded
away by the compiler, since ``inf * 0`` is NaN). Each decoder step then runs a fixed number of
extra kernels per layer, which the exact kernel count sees.
"""

from __future__ import annotations

from typing import Any

import pytest

from quantbench.testing import when_set


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("quantbench").addoption(
        "--qb-gpu-work", dest="qb_gpu_work", type=float, default=0.0,
        help="test only: add this fraction of each decoder layer's weights as extra matmuls")


def decoder_layers(model: Any) -> list[Any]:
    """The decoder layers of a transformers causal LM (Llama, Qwen2 and their kind)."""
    inner = getattr(model, "model", model)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__} has no .model.layers to add GPU work to")
    return list(layers)


def linear_weights(layer: Any) -> int:
    """The layer's linear weights counted as unquantized elements (in x out of every linear,
    bitsandbytes' and autoawq's packed layers included, which keep those attributes)."""
    return sum(m.in_features * m.out_features for m in layer.modules()
               if isinstance(getattr(m, "in_features", None), int)
               and isinstance(getattr(m, "out_features", None), int))


def _width(layer: Any, hidden: int, fraction: float) -> int:
    return max(1, round(fraction * linear_weights(layer) / (2 * hidden)))


def add_gpu_work(model: Any, fraction: float) -> int:
    """Hook every decoder layer of ``model`` with ``fraction`` extra matmul work; returns the
    number of extra weight elements (``fraction`` of the layers' linear weights, rounded)."""
    import torch

    if getattr(model, "_qb_gpu_work", None) is not None:
        return 0
    hidden = int(model.config.hidden_size)
    embed = model.get_input_embeddings().weight
    gen = torch.Generator().manual_seed(0)
    added = 0
    for layer in decoder_layers(model):
        k = _width(layer, hidden, fraction)
        a = (torch.randn(hidden, k, generator=gen) / hidden ** 0.5).to(embed.device, embed.dtype)
        b = (torch.randn(k, hidden, generator=gen) / k ** 0.5).to(embed.device, embed.dtype)
        added += a.numel() + b.numel()

        def after(module: Any, args: Any, output: Any, a: Any = a, b: Any = b) -> Any:
            hidden_states = output[0] if isinstance(output, tuple) else output
            extra = (hidden_states.to(a.dtype) @ a @ b).to(hidden_states.dtype)
            changed = hidden_states + extra * 0.0
            return (changed, *output[1:]) if isinstance(output, tuple) else changed

        layer.register_forward_hook(after)
    model._qb_gpu_work = fraction
    return added


def pytest_quantbench_model_loaded(model: Any, config: pytest.Config) -> None:
    """Every model the session loads gets the extra matmuls, when ``--qb-gpu-work`` asks."""
    when_set(config, "qb_gpu_work", add_gpu_work, model)
