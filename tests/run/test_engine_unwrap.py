"""What the harness itself adds to a compiled decode step (issue 24, INT4's end-to-end loss):
torchao's tensor-subclass weights are unwrapped before ``torch.compile`` (dynamo then guards plain
tensors), and the timed ``generate`` runs no end-of-sequence machinery (no per-step logits clone
and EOS mask of ``min_new_tokens``), while still producing exactly the tokens asked for."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("torchao")
from torch.nn.utils import parametrize  # noqa: E402
from transformers import Qwen2Config, Qwen2ForCausalLM  # noqa: E402
from transformers.generation import logits_process, stopping_criteria  # noqa: E402

from quantbench.run.engine import HFEngine  # noqa: E402
from quantbench.run.prompts import Prompt  # noqa: E402


def _model(torchao: bool) -> Qwen2ForCausalLM:
    torch.manual_seed(0)
    config = Qwen2Config(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_hidden_layers=2,
                         num_key_value_heads=2, vocab_size=256, max_position_embeddings=64)
    model = Qwen2ForCausalLM(config).to(torch.bfloat16).eval()
    model.generation_config.pad_token_id = 0
    if torchao:
        from torchao.quantization import Int8WeightOnlyConfig, quantize_

        quantize_(model, Int8WeightOnlyConfig())
    return model


def _prompt() -> Prompt:
    ids = torch.randint(10, 250, (1, 8), generator=torch.Generator().manual_seed(1))
    return Prompt(ids, torch.ones_like(ids))


def _unwrapped(model: torch.nn.Module) -> int:
    return sum(parametrize.is_parametrized(m) for m in model.modules())


def test_compiled_torchao_weights_are_unwrapped_and_said_so() -> None:
    from torchao.utils import TorchAOBaseTensor

    model = _model(torchao=True)
    quantized = sum(isinstance(p, TorchAOBaseTensor) for p in model.parameters())
    assert quantized == 15  # 7 linear layers in each of 2 blocks, and the LM head
    engine = HFEngine(model, "generate-compiled")
    assert _unwrapped(model) == quantized
    assert not any(isinstance(p, TorchAOBaseTensor) for p in model.parameters())
    assert engine.notes == [f"torchao weights unwrapped for torch.compile in {quantized} layers "
                            "(torchao.utils.unwrap_tensor_subclass)"]


def test_weights_that_quantize_activations_stay_wrapped_and_said_so() -> None:
    """fp8dq's weights carry ``act_quant_kwargs``; unwrapped, their rebuild fails to trace (every
    compiled fp8dq session on an H200, 2026-12-04), so they are compiled as they are."""
    from torchao.utils import TorchAOBaseTensor

    model = _model(torchao=True)
    weights = [p for p in model.parameters() if isinstance(p, TorchAOBaseTensor)]
    weights[3].act_quant_kwargs = object()  # one layer that quantizes its activations keeps all wrapped
    engine = HFEngine(model, "generate-compiled")
    assert _unwrapped(model) == 0
    assert sum(isinstance(p, TorchAOBaseTensor) for p in model.parameters()) == 15
    assert engine.notes == ["torchao weights left wrapped for torch.compile (15 tensors): they quantize "
                            "activations on the fly, which does not trace once unwrapped"]


@pytest.mark.parametrize(("torchao", "mode", "unwrap"), [(True, "eager", True), (True, "generate-compiled", False),
                                                         (False, "generate-compiled", True)])
def test_nothing_is_unwrapped_outside_compiled_torchao(torchao: bool, mode: str, unwrap: bool) -> None:
    model = _model(torchao)
    engine = HFEngine(model, mode, unwrap=unwrap)
    assert _unwrapped(model) == 0 and engine.notes == []


def test_unwrapped_compiled_decode_matches_eager() -> None:
    prompt = _prompt()
    eager = HFEngine(_model(torchao=True), "eager")
    assert eager.generate(prompt, 5, lambda: None) == 5
    compiled = HFEngine(_model(torchao=True), "generate-compiled")
    steps: list[int] = []
    assert compiled.generate(prompt, 5, lambda: steps.append(1)) == 5
    assert len(steps) == 5
    assert torch.equal(compiled.last_tokens, eager.last_tokens)
    assert compiled.compile_stats()["unique_graphs"] >= 1  # it really compiled


def test_timed_generate_runs_no_eos_machinery_and_never_stops_early(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    for module, name in ((logits_process, "MinNewTokensLengthLogitsProcessor"),
                         (stopping_criteria, "EosTokenCriteria")):
        cls = getattr(module, name)
        original = cls.__call__
        monkeypatch.setattr(cls, "__call__", lambda self, *a, _o=original, _n=name, **k: (calls.append(_n),
                                                                                          _o(self, *a, **k))[1])
    model = _model(torchao=False)
    prompt = _prompt()
    engine = HFEngine(model, "eager")
    engine.generate(prompt, 3, lambda: None)
    first = int(engine.last_tokens[0, 0])
    model.generation_config.eos_token_id = first  # the model's very first token is now its EOS
    assert engine.generate(prompt, 6, lambda: None) == 6
    assert int(engine.last_tokens[0, 0]) == first and calls == []
    assert model.generation_config.eos_token_id == first  # the model's own config is left alone
    # teacher forcing still runs with the model's EOS (its own count check catches an early stop)
    logits = engine.teacher_forced_logits(prompt, engine.last_tokens[:, 1:3])
    assert logits.shape == (1, 2, 256) and "EosTokenCriteria" in calls


def _int4_split_tool():
    """``lab/int4_split.py`` loaded as a module (lab/ is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "lab" / "int4_split.py"
    spec = importlib.util.spec_from_file_location("int4_split", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_int4_split_counts_cuda_api_calls_per_decode_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """``lab/int4_split.py``: per token = (N-token run − 1-token run) / (N − 1), by call name."""
    from quantbench import compat

    tool = _int4_split_tool()

    class Engine:
        def generate(self, prompt, n, on_step):
            self.n = n

    engine = Engine()

    def activity(fn):
        fn()
        n = engine.n
        return ([("cudaGraphLaunch", "cuda_runtime", 5)] * n + [("cudaMemcpyAsync", "cuda_runtime", 9)] * (2 * n + 3)
                + [("cudaStreamSynchronize", "cuda_runtime", 1)] * 4 + [("gemv", "kernel", 100)] * 50 * n)

    monkeypatch.setattr(compat, "cuda_activity", activity)
    assert tool.api_calls_per_token(engine, None, 9) == {"cudaMemcpyAsync": 2.0, "cudaGraphLaunch": 1.0}
    assert tool.main(["--variants", "bf16,nope"]) == 2


def _step_work() -> None:
    """One decode step's host work, for the cProfile split below."""


def _setup_work() -> None:
    """Once-per-generate host work, which the split must take out."""


def test_int4_split_profiles_host_time_per_decode_token_by_function() -> None:
    """``--cprofile``: each function's calls per token = (N-token − 1-token calls) / (N − 1), so
    per-step work reads 1 call a token and once-per-generate work 0."""
    tool = _int4_split_tool()

    class Engine:
        def generate(self, prompt, n, on_step):
            _setup_work()
            for _ in range(n):
                _step_work()

    split = tool.host_profile(Engine(), None, 9, top=50)
    assert split["columns"] == ["function", "calls/token", "self us/token", "cum us/token"]
    calls = {row[0].split("(")[-1].rstrip(")"): row[1] for row in split["by_self"]}
    assert calls["_step_work"] == 1.0
    assert calls["_setup_work"] == 0.0
