"""The issue-11 work counters on the CPU with the real tiny model: no device figure is invented,
and Python calls per decode step come out positive and identical run after run."""

from __future__ import annotations

from quantbench.run.device import device_metrics
from quantbench.run.python_calls import python_calls_per_step


def test_work_counters_on_the_cpu_with_the_tiny_model(tmp_path) -> None:
    from transformers import AutoModelForCausalLM

    from quantbench.run.engine import HFEngine
    from quantbench.run.prompts import token_prompt
    from quantbench.sources import materialize_synthetic

    model = AutoModelForCausalLM.from_pretrained(materialize_synthetic("qwen2-tiny", tmp_path, 0))
    engine = HFEngine(model, "eager")
    prompt = token_prompt(model.config.vocab_size, 8, 1, seed=0, device="cpu")

    assert device_metrics(engine, prompt, 6, decode_step_ms=2.0) == {}

    first = python_calls_per_step(engine, prompt, 6)
    second = python_calls_per_step(engine, prompt, 6)
    assert first is not None and second is not None
    assert first.median > 0
    assert (first.median, first.stop) == (second.median, "exact")
