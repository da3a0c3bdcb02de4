"""The test-only slowdown plugin in the graph modes: its forward hooks stand aside while a step
is compiled (and, on a GPU, captured), so the loop still compiles whole and decodes the same
tokens, and every decode loop the runner makes (``pytest_quantbench_engine_made``) has its step
wrapped with the GPU spin that the capture holds."""

from __future__ import annotations

import pytest
import torch

from quantbench.run.decode_loop import DecodeLoop
from quantbench.run.engine import HFEngine
from quantbench.run.prompts import token_prompt
from quantbench.sources import materialize_synthetic
from quantbench.testing import slowdown
from fakes import FakeConfig


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


def test_every_decode_loop_step_is_wrapped_when_the_loop_is_made(model) -> None:
    loop = DecodeLoop(model, "graph")
    assert slowdown.pytest_quantbench_engine_made(engine=loop, config=FakeConfig({"qb_slowdown": 0.25})) is None
    assert loop._step.__name__ == "slowed"
    prompt = token_prompt(model.config.vocab_size, 16, 1, 3, "cpu")
    loop.generate(prompt, 6, lambda: None)  # on a CPU the wrapper passes the step through
    plain = DecodeLoop(model, "graph")
    slowdown.pytest_quantbench_engine_made(engine=plain, config=FakeConfig({"qb_slowdown": 0.0}))
    assert plain._step.__name__ == "decode_step"
    plain.generate(prompt, 6, lambda: None)
    assert torch.equal(plain.last_tokens, loop.last_tokens)
    eager = HFEngine(model, "eager")
    before = dict(vars(eager))
    slowdown.pytest_quantbench_engine_made(engine=eager, config=FakeConfig({"qb_slowdown": 0.25}))
    assert vars(eager) == before  # generate's forwards are slowed by the model's own hooks
