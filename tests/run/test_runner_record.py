"""What the runner hands the session record (``Runner.record_parts``), its time entries and the
reference captured alone (an xdist worker's), with fake loaders and the null probes
(``Probes.null()``) on the CPU: no model runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from torch import nn

from quantbench.config import Settings
from quantbench.methods import LoadedModel, LoadError, LoadRequest
from quantbench.run.memory import CpuMemory
from quantbench.run.probes import Probes
from quantbench.run.runner import Runner


def _loader(method: str, calls: list[str]):
    def load(req: LoadRequest) -> LoadedModel:
        calls.append(method)
        return LoadedModel(method, nn.Linear(4, 4), "float32")
    return load


def _broken(req: LoadRequest) -> LoadedModel:
    raise RuntimeError("no such checkpoint\nsecond line")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _runner(cache: Path, calls: list[str], **loaders) -> Runner:
    settings = replace(Settings(), methods=("fp16", "int8"), cache_dir=cache, steady=False)
    table = {"fp16": _loader("fp16", calls), "int8": _loader("int8", calls), **loaders}
    return Runner(settings, "cpu", memory=CpuMemory(), loaders=table, probes=Probes.null())


def test_record_parts_are_copies_of_what_the_record_needs(cache: Path) -> None:
    calls: list[str] = []
    runner = _runner(cache, calls)
    runner.load("fp16")
    runner.unload()
    runner.note_time("fp16", "measure", 2.5)
    parts = runner.record_parts()
    assert list(parts.environment) == ["model_source", "peak_copy_bandwidth_gbs", "launch_overhead_us",
                                       "steady", "cpu_affinity"]
    assert parts.environment["model_source"] == "synthetic:qwen2-tiny"
    assert parts.environment["steady"] is False and parts.environment["cpu_affinity"] is None
    assert (parts.skipped, parts.failures, parts.loads) == ({}, {}, {"fp16": 1})
    assert parts.load_events == [("load", "fp16"), ("unload", "fp16")]
    fp16 = parts.time["per_method"]["fp16"]
    assert fp16["measure"] == 2.5 and {"prepare", "load"} <= set(fp16)
    parts.loads["fp16"] = 9
    parts.load_events.clear()
    assert runner.record_parts().loads == {"fp16": 1} and runner.record_parts().load_events


def test_a_load_failure_is_in_the_parts_with_its_one_line(cache: Path) -> None:
    runner = _runner(cache, [], int8=_broken)
    with pytest.raises(LoadError):
        runner.load("int8")
    assert runner.record_parts().failures == {
        "int8": "int8 failed to load: RuntimeError: no such checkpoint"}


def test_the_reference_captured_alone_is_loaded_once_timed_and_freed(cache: Path) -> None:
    calls: list[str] = []
    runner = _runner(cache, calls)
    runner.capture_reference = lambda loaded: setattr(runner, "reference", loaded.method)  # type: ignore
    runner.capture_reference_alone()
    runner.capture_reference_alone()  # captured already: nothing
    assert calls == ["fp16"] and runner.reference == "fp16" and runner.pool.current is None
    assert "quality" in runner.record_parts().time["per_method"]["fp16"]


def test_no_reference_is_loaded_when_it_failed_or_is_not_in_the_session(cache: Path) -> None:
    calls: list[str] = []
    failed = _runner(cache, calls, fp16=_broken)
    with pytest.raises(LoadError):
        failed.load("fp16")
    failed.capture_reference_alone()
    assert failed.reference is None and failed.record_parts().loads == {}
    without = _runner(cache, calls)
    without.settings = replace(without.settings, methods=("int8",))
    without.capture_reference_alone()
    assert calls == [] and without.reference is None


def test_an_eager_warm_up_round_is_as_long_as_a_timed_one_the_first_time_a_shape_runs(cache: Path) -> None:
    # An 8-token warm-up left the first full-length generation cold (cuDNN builds an attention
    # plan per new KV length), and with one timed round that cold round was the figure (73.3
    # against 18-20 ms per token on an H200). The plans are kept per shape and dtype, not per
    # model: a later method of a warmed shape warms up short; a new dtype or batch at full length.
    import torch
    from transformers import AutoModelForCausalLM

    from quantbench.run.engine import HFEngine
    from quantbench.run.runner import SHORT_WARMUP_TOKENS
    from quantbench.sources import materialize_synthetic

    path = materialize_synthetic("qwen2-tiny", cache, 0)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    half = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16)
    lengths: list[int] = []

    class Recording(HFEngine):
        def generate(self, prompt, new_tokens, on_step):  # type: ignore[override]
            lengths.append(new_tokens)
            return super().generate(prompt, new_tokens, on_step)

    settings = replace(Settings(), methods=("fp16", "int8", "bf16"), cache_dir=cache, steady=False)
    runner = Runner(settings, "cpu", memory=CpuMemory(),
                    loaders={"fp16": lambda req: LoadedModel("fp16", model, "float32"),
                             "int8": lambda req: LoadedModel("int8", model, "float32"),
                             "bf16": lambda req: LoadedModel("bf16", half, "bfloat16")},
                    engine_factory=lambda m, mode: Recording(m, mode), probes=Probes.null())
    new_tokens, warmup = settings.scenario.new_tokens, settings.scenario.warmup
    assert warmup >= 1 and SHORT_WARMUP_TOKENS < new_tokens

    def warm_up_lengths(method: str, batch: int) -> list[int]:
        lengths.clear()
        _, run = runner.generate_case(runner.load(method), batch, "eager")
        assert len(lengths) == warmup + len(run.samples) and set(lengths[warmup:]) == {new_tokens}
        return lengths[:warmup]

    assert warm_up_lengths("fp16", 1) == [new_tokens] * warmup  # the first at this shape
    assert warm_up_lengths("int8", 1) == [SHORT_WARMUP_TOKENS] * warmup  # same dtype and batch
    assert warm_up_lengths("int8", 2) == [new_tokens] * warmup  # a new batch size
    assert warm_up_lengths("bf16", 1) == [new_tokens] * warmup  # a new dtype


def test_the_session_clock_counts_from_pytests_configure(cache: Path) -> None:
    """Given when pytest's configure ran (``begun``), the time before the runner existed (imports,
    collection) is the session's "start", counted as loading, and inside its wall clock; without
    it the clock starts with the runner, as before."""
    import time

    settings = replace(Settings(), methods=("fp16",), cache_dir=cache, steady=False)
    begun = time.perf_counter() - 5.0
    runner = Runner(settings, "cpu", memory=CpuMemory(), loaders={"fp16": _loader("fp16", [])},
                    probes=Probes.null(), begun=begun)
    data = runner.time_data()
    start = data["per_method"]["(session)"]["start"]
    assert 5.0 <= start < 5.0 + (time.perf_counter() - begun - 5.0)
    assert data["wall_s"] >= data["load_s"] >= start
    plain = Runner(settings, "cpu", memory=CpuMemory(), loaders={"fp16": _loader("fp16", [])},
                   probes=Probes.null())
    assert plain.time_data()["per_method"]["(session)"]["start"] == 0.0
    assert plain.time_data()["wall_s"] < start
