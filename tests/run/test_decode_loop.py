"""quantbench's own decode loop (``run.decode_loop``) on the CPU: it decodes exactly the tokens
``generate`` does for every CPU method, left padding included; a capture is checked against the
uncaptured step; a step that cannot be captured is one line, a skip for a method known not to
capture and a failure for any other. CUDA graphs are faked here (``ReplayGraphs``): the real
capture runs on a lent GPU (docs/results)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from quantbench.config import Settings
from quantbench.methods import METHODS, LoadedModel, Unavailable, unavailable_reason
from quantbench.run.decode_loop import CaptureError, DecodeLoop
from quantbench.run.engine import HFEngine
from quantbench.run.memory import CpuMemory
from quantbench.run.probes import Probes
from quantbench.run.prompts import Prompt, token_prompt
from quantbench.run.runner import Runner

NEW_TOKENS = 12


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    cache = tmp_path_factory.mktemp("cache")
    settings = replace(Settings(), cache_dir=cache, steady=False)
    return Runner(settings, "cpu", memory=CpuMemory())


def prompts(vocab: int) -> list[Prompt]:
    """A batch of two, then the same batch with the second row left-padded by five."""
    plain = token_prompt(vocab, 16, 2, 3, "cpu")
    mask = plain.attention_mask.clone()
    mask[1, :5] = 0
    return [plain, Prompt(plain.input_ids, mask)]


def loaded(runner: Runner, method: str) -> LoadedModel:
    reason = unavailable_reason(method, "cpu")
    if reason:
        pytest.skip(reason)
    return runner.load(method)


CPU_METHODS = [m for m, spec in METHODS.items() if spec.cpu_ok]


@pytest.mark.parametrize("method", CPU_METHODS)
def test_the_loop_decodes_the_tokens_generate_does(runner: Runner, method: str) -> None:
    model = loaded(runner, method).model
    for prompt in prompts(model.config.vocab_size):
        reference = HFEngine(model, "eager")
        reference.generate(prompt, NEW_TOKENS, lambda: None)
        loop = DecodeLoop(model, "graph")
        marks: list[int] = []
        assert loop.generate(prompt, NEW_TOKENS, lambda: marks.append(1)) == NEW_TOKENS
        assert len(marks) == NEW_TOKENS  # one mark after each token's forward, as generate's
        assert torch.equal(loop.last_tokens, reference.last_tokens), method


@pytest.mark.parametrize("method", ["fp16", "int8wo", "awq"])
def test_the_compiled_step_decodes_the_tokens_generate_does(runner: Runner, method: str) -> None:
    model = loaded(runner, method).model
    prompt = prompts(model.config.vocab_size)[1]
    reference = HFEngine(model, "eager")
    reference.generate(prompt, NEW_TOKENS, lambda: None)
    loop = DecodeLoop(model, "graph-compiled")
    loop.generate(prompt, NEW_TOKENS, lambda: None)
    assert torch.equal(loop.last_tokens, reference.last_tokens)
    assert loop.compile_stats()["graph_breaks"] == 0


def test_teacher_forced_logits_follow_the_forced_tokens(runner: Runner) -> None:
    """Through the loop, as through generate: logits at each forced position, and forcing a
    model's own greedy tokens gives back the logits it chose them from."""
    model = loaded(runner, "fp16").model
    prompt = prompts(model.config.vocab_size)[1]
    hf = HFEngine(model, "eager")
    hf.generate(prompt, 6, lambda: None)
    forced = torch.flip(hf.last_tokens, dims=[1])  # other tokens than the greedy ones
    ours = DecodeLoop(model, "graph").teacher_forced_logits(prompt, forced)
    theirs = hf.teacher_forced_logits(prompt, forced)
    assert ours.shape == theirs.shape == (2, 6, model.config.vocab_size)
    assert torch.allclose(ours, theirs, atol=1e-4)


class ReplayGraphs:
    """A stand-in for CUDA graphs on the CPU: ``capture`` records the step, replay runs it;
    ``fail`` makes the capture raise, ``lose`` makes replay do nothing (a graph that kept the
    Python step's state frozen)."""

    def __init__(self, fail: BaseException | None = None, lose: bool = False) -> None:
        self.fail, self.lose = fail, lose
        self.warmed = self.captured = self.replays = 0

    def warm(self, fn: Callable[[], Any]) -> None:
        self.warmed += 1
        fn()

    def capture(self, fn: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        if self.fail is not None:
            raise self.fail
        self.captured += 1
        last: list[torch.Tensor] = []

        def replay() -> torch.Tensor:
            self.replays += 1
            if not self.lose or not last:
                last[:] = [fn()]
            return last[0]
        return replay


def test_a_capture_is_made_once_per_batch_and_checked(runner: Runner) -> None:
    model = loaded(runner, "fp16").model
    prompt = prompts(model.config.vocab_size)[0]
    reference = HFEngine(model, "eager")
    reference.generate(prompt, NEW_TOKENS, lambda: None)
    graphs = ReplayGraphs()
    loop = DecodeLoop(model, "graph", graphs=graphs)
    for _ in range(2):
        loop.generate(prompt, NEW_TOKENS, lambda: None)
        assert torch.equal(loop.last_tokens, reference.last_tokens)
    assert (graphs.warmed, graphs.captured) == (1, 1)
    one = token_prompt(model.config.vocab_size, 16, 1, 3, "cpu")
    loop.generate(one, NEW_TOKENS, lambda: None)
    assert graphs.captured == 2  # a new batch size: a graph of its own
    assert "one CUDA graph a decode token" in loop.notes[0]


def test_a_step_that_cannot_be_captured_is_one_line(runner: Runner) -> None:
    model = loaded(runner, "fp16").model
    prompt = prompts(model.config.vocab_size)[0]
    error = RuntimeError("CUDA error: operation not permitted when stream is capturing\n"
                         "CUDA kernel errors might be asynchronously reported")
    loop = DecodeLoop(model, "graph", graphs=ReplayGraphs(fail=error))
    with pytest.raises(CaptureError) as caught:
        loop.generate(prompt, NEW_TOKENS, lambda: None)
    assert str(caught.value) == ("not captured: RuntimeError: CUDA error: operation not "
                                 "permitted when stream is capturing")


def test_a_replay_that_decodes_other_tokens_is_refused(runner: Runner) -> None:
    model = loaded(runner, "fp16").model
    prompt = prompts(model.config.vocab_size)[0]
    loop = DecodeLoop(model, "graph", graphs=ReplayGraphs(lose=True))
    with pytest.raises(CaptureError, match="decoded other tokens than the step run without capture"):
        loop.generate(prompt, NEW_TOKENS, lambda: None)


class Uncapturable:
    """An engine whose capture fails, as a graph mode's would."""

    notes: list[str] = []

    def __init__(self, model: Any, mode: str) -> None:
        self.mode = mode

    def generate(self, prompt: Any, new_tokens: int, on_step: Callable[[], None]) -> int:
        raise CaptureError("not captured: RuntimeError: operation not permitted when stream is capturing")


def test_a_method_known_not_to_capture_is_skipped_with_the_error_others_fail(runner: Runner) -> None:
    model = loaded(runner, "fp16").model
    fake = Runner(runner.settings, "cpu", memory=CpuMemory(),
                  loaders={m: (lambda req, m=m: LoadedModel(m, model, "float32")) for m in ("fp16", "int8")},
                  engine_factory=Uncapturable, probes=Probes.null())
    assert METHODS["int8"].uncapturable and not METHODS["fp16"].uncapturable
    with pytest.raises(Unavailable) as skipped:
        fake.generate_case(fake.load("int8"), 1, "graph")
    assert str(skipped.value).startswith("not captured: RuntimeError: operation not permitted")
    assert "outlier" in str(skipped.value) and "\n" not in str(skipped.value)
    with pytest.raises(CaptureError):
        fake.generate_case(fake.load("fp16"), 1, "graph")


def test_an_unknown_loop_mode_is_refused(runner: Runner) -> None:
    with pytest.raises(ValueError, match="unknown decode-loop mode 'eager'"):
        DecodeLoop(loaded(runner, "fp16").model, "eager")


def test_the_runner_builds_the_loop_for_the_graph_modes(runner: Runner, tmp_path: Path) -> None:
    model = loaded(runner, "fp16").model
    assert isinstance(runner.new_engine(model, "graph"), DecodeLoop)
    assert isinstance(runner.new_engine(model, "graph-compiled"), DecodeLoop)
    assert isinstance(runner.new_engine(model, "eager"), HFEngine)


@pytest.mark.session
def test_a_graph_mode_session_makes_and_passes_its_own_baseline(tmp_path: Path) -> None:
    """The whole path in the serving-grade mode on the CPU: batch sizes from the option, the
    loop's note on every case, its warm-up counted as compiling, a baseline written, then a
    compare against it that passes."""
    from session_runs import run_session

    baselines = tmp_path / "baselines"
    args = ("--qb-modes", "graph", "--qb-methods", "fp16,int8", "--qb-batch-sizes", "1,2",
            "-k", "generate")
    first = run_session(tmp_path / "cache", tmp_path, *args, "--qb-update-baseline",
                        baseline_dir=baselines)
    assert first.code == 0, first.output[-3000:]
    rows = first.data["results"]
    assert [(r["mode"], r["case"], r["method"]) for r in rows] == [
        ("graph", "generate-bs1", "fp16"), ("graph", "generate-bs2", "fp16"),
        ("graph", "generate-bs1", "int8"), ("graph", "generate-bs2", "int8")]
    assert all(any(n.startswith("quantbench's decode loop (graph)") for n in r["notes"]) for r in rows)
    assert first.data["scenario"]["batch_sizes"] == [1, 2]
    assert first.data["time"]["per_method"]["fp16"]["compile"] > 0
    second = run_session(tmp_path / "cache", tmp_path, *args, "--benchmark-compare",
                         baseline_dir=baselines)
    assert second.code == 0, second.output[-3000:]
    assert "\ngate: pass" in second.output, second.output[-1500:]
