"""The test-only GPU-work plugin adds the asked share of matmul work and leaves outputs alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from quantbench.sources import materialize_synthetic
from quantbench.testing.gpuwork import add_gpu_work, decoder_layers, linear_weights
from session_runs import hooks_loads


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoModelForCausalLM

    folder = materialize_synthetic("qwen2-tiny", tmp_path_factory.mktemp("tiny"), 0)
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


def test_extra_weights_are_the_asked_fraction_of_the_layers(model) -> None:
    layer_params = sum(linear_weights(layer) for layer in decoder_layers(model))
    assert layer_params == sum(m.weight.numel() for layer in decoder_layers(model)
                               for m in layer.modules() if isinstance(m, torch.nn.Linear))
    ids = torch.arange(5, 21).unsqueeze(0)
    with torch.no_grad():
        before = model(input_ids=ids).logits
    added = add_gpu_work(model, 0.1)
    with torch.no_grad():
        after = model(input_ids=ids).logits
    assert added == pytest.approx(0.1 * layer_params, rel=0.01)
    assert torch.equal(before, after)  # the work is added times zero: outputs unchanged
    assert add_gpu_work(model, 0.1) == 0  # hooking twice would double the work


def test_a_model_without_decoder_layers_is_refused() -> None:
    with pytest.raises(ValueError, match="has no .model.layers"):
        decoder_layers(torch.nn.Linear(2, 2))


@pytest.mark.session
def test_the_plugin_hooks_the_runners_loads(tmp_path: Path) -> None:
    hooks_loads(tmp_path, "quantbench.testing.gpuwork", "--qb-gpu-work", "0.1",
                "qb_model.model._qb_gpu_work == 0.1")
