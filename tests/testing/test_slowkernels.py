"""The test-only slow-kernels plugin makes existing GEMMs larger without adding an op, and leaves
outputs alone; quantized layers (a ``Linear`` subclass, a subclass weight) are not touched."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from quantbench.sources import materialize_synthetic
from quantbench.testing.gpuwork import decoder_layers, linear_weights
from quantbench.testing.slowkernels import pad_down_projections
from session_runs import hooks_loads


@pytest.fixture
def model(tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoModelForCausalLM

    folder = materialize_synthetic("qwen2-tiny", tmp_path_factory.mktemp("tiny"), 0)
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


def _ops(model, ids) -> dict[str, int]:
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        model(input_ids=ids)
    counts: dict[str, int] = {}
    for event in prof.events():
        if event.name in ("aten::mm", "aten::addmm", "aten::bmm", "aten::add", "aten::mul", "aten::copy_"):
            counts[event.name] = counts.get(event.name, 0) + 1
    return counts


def test_down_projections_grow_by_the_fraction_and_nothing_else_changes(model) -> None:
    ids = torch.arange(5, 21).unsqueeze(0)
    layers = decoder_layers(model)
    sizes = [(layer.mlp.down_proj.weight.shape, linear_weights(layer)) for layer in layers]
    with torch.no_grad():
        before = model(input_ids=ids).logits
    ops_before = _ops(model, ids)
    assert ops_before.get("aten::mm", 0) + ops_before.get("aten::addmm", 0) > 0
    assert pad_down_projections(model, 0.1) == len(layers)
    for layer, ((rows, cols), weights) in zip(layers, sizes):
        grown = layer.mlp.down_proj.weight.shape
        assert grown[1] == cols and (grown[0] - rows) * cols == pytest.approx(0.1 * weights, rel=0.01)
    with torch.no_grad():
        after = model(input_ids=ids).logits
    assert torch.allclose(before, after, atol=1e-5, rtol=1e-5)
    assert _ops(model, ids) == ops_before  # the same GEMMs, larger: no op added
    assert pad_down_projections(model, 0.1) == 0  # padding twice would double it


def test_quantized_layers_are_left_alone(model) -> None:
    class Quantized(torch.nn.Linear):
        pass

    for layer in decoder_layers(model):
        down = layer.mlp.down_proj
        layer.mlp.down_proj = Quantized(down.in_features, down.out_features, bias=False)
    assert pad_down_projections(model, 0.1) == 0 and model._qb_slow_kernels == 0


@pytest.mark.session
def test_the_plugin_hooks_the_runners_loads(tmp_path: Path) -> None:
    hooks_loads(tmp_path, "quantbench.testing.slowkernels", "--qb-slow-kernels", "0.1",
                "qb_model.model._qb_slow_kernels > 0")
