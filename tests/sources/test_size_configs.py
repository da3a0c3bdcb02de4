"""The shipped Qwen2.5 size configs: the real shapes, checked by their parameter counts.

Each model is built on the meta device (no weights allocated) and its parameter count compared
with the figure its model card publishes ("Number of Parameters" on
huggingface.co/Qwen/Qwen2.5-{1.5B,3B,7B,14B}-Instruct, mirrored in the public repository
ZHUI/paddlenlp_model_readme, Qwen/Qwen2.5-*-Instruct/index.md). The cards give three
significant figures, some rounded (3B: 3,085,938,688 parameters, card "3.09B") and some
truncated (7B: 7,615,616,512, card "7.61B"), so a count matches when it lies within one unit
of the card's last digit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantbench.sources import synthetic_config_dict, synthetic_names

torch = pytest.importorskip("torch")

# name -> (published parameters in billions, the unit of the card's last digit in billions)
PUBLISHED = {
    "qwen2.5-1.5b-instruct": (1.54, 0.01),
    "qwen2.5-3b-instruct": (3.09, 0.01),
    "qwen2.5-7b-instruct": (7.61, 0.01),
    "qwen2.5-14b-instruct": (14.7, 0.1),
}
# The shapes of each config.json (hidden, intermediate, layers, heads, kv heads, vocab, tied).
SHAPES = {
    "qwen2.5-1.5b-instruct": (1536, 8960, 28, 12, 2, 151936, True),
    "qwen2.5-3b-instruct": (2048, 11008, 36, 16, 2, 151936, True),
    "qwen2.5-7b-instruct": (3584, 18944, 28, 28, 4, 152064, False),
    "qwen2.5-14b-instruct": (5120, 13824, 48, 40, 8, 152064, False),
}


def parameter_count(name: str, tmp_path: Path) -> int:
    """The model's parameter count, built on the meta device (tied weights counted once)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(synthetic_config_dict(name)))
    config = AutoConfig.from_pretrained(path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    assert next(model.parameters()).device.type == "meta"
    return sum(p.numel() for p in model.parameters())


def test_every_size_is_shipped() -> None:
    assert set(PUBLISHED) <= set(synthetic_names())


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shapes_are_the_real_models(name: str) -> None:
    c = synthetic_config_dict(name)
    got = (c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"],
           c["num_attention_heads"], c["num_key_value_heads"], c["vocab_size"],
           c["tie_word_embeddings"])
    assert got == SHAPES[name]
    assert (c["model_type"], c["architectures"], c["hidden_act"]) == ("qwen2", ["Qwen2ForCausalLM"], "silu")
    assert c["hidden_size"] // c["num_attention_heads"] == 128  # every size from 1.5B up
    assert (c["bos_token_id"], c["eos_token_id"], c["rope_theta"]) == (151643, 151645, 1_000_000.0)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_matches_the_model_card(name: str, tmp_path: Path) -> None:
    published, unit = PUBLISHED[name]
    billions = parameter_count(name, tmp_path) / 1e9
    assert abs(billions - published) < unit, f"{name}: {billions:.4f}B, card {published}B"


def test_seven_b_count_is_exact(tmp_path: Path) -> None:
    """7B by hand: embeddings and head untied, QKV with bias, two norms per layer and a final one."""
    h, i, layers, kv, vocab = 3584, 18944, 28, 4 * 128, 152064
    attention = h * h + h + 2 * (h * kv + kv) + h * h
    per_layer = attention + 3 * h * i + 2 * h
    assert parameter_count("qwen2.5-7b-instruct", tmp_path) == 2 * vocab * h + layers * per_layer + h
