"""The test-only slowdown plugin in the graph modes: its forward hooks stand aside while a step
is compiled (and, on a GPU, captured), so the loop still compiles whole and decodes the same
tokens, and every decode loop's step is wrapped with the GPU spin that the capture holds."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from quantbench.run.decode_loop import DecodeLoop
from quantbench.run.prompts import token_prompt
from quantbench.sources import materialize_synthetic
from quantbench.testing import slowdown


@pytest.fixture
def model(tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoModelForCausalLM

    folder = materialize_synthetic("qwen2-tiny", tmp_path_factory.mktemp("tiny"), 0)
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


def test_the_hooks_stand_aside_in_a_compiled_step(model, monkeypatch: pytest.MonkeyPatch) -> None:
    prompt = token_prompt(model.config.vocab_size, 16, 1, 3, "cpu")
    plain = DecodeLoop(model, "graph-compiled")
    plain.generate(prompt, 8, lambda: None)
    expected = plain.last_tokens.clone()
    slowdown.slow_down(model, 0.5)
    waits: list[float] = []
    monkeypatch.setattr(slowdown.time, "sleep", waits.append)
    slowed = DecodeLoop(model, "graph-compiled")
    slowed.generate(prompt, 8, lambda: None)
    assert torch.equal(slowed.last_tokens, expected)
    assert slowed.compile_stats()["graph_breaks"] == 0
    assert len(waits) == 1  # the prefill's eager forward waits; the compiled steps hold no wait
    with torch.no_grad():
        model(input_ids=prompt.input_ids)
    assert len(waits) == 2  # an eager forward is slowed as before


class Config:
    def __init__(self) -> None:
        self.cleanups: list[Any] = []
        self.stash = pytest.Stash()

    def add_cleanup(self, fn: Any) -> None:
        self.cleanups.append(fn)


def test_every_decode_loop_step_is_wrapped_for_the_session(model) -> None:
    config = Config()
    slowdown.slow_decode_loops(config, 0.25)
    loop = DecodeLoop(model, "graph")
    assert loop._step.__name__ == "slowed"
    prompt = token_prompt(model.config.vocab_size, 16, 1, 3, "cpu")
    loop.generate(prompt, 6, lambda: None)  # on a CPU the wrapper passes the step through
    for undo in config.cleanups:
        undo()
    assert DecodeLoop(model, "graph")._step.__name__ == "decode_step"
    again = DecodeLoop(model, "graph")
    again.generate(prompt, 6, lambda: None)
    assert torch.equal(again.last_tokens, loop.last_tokens)
