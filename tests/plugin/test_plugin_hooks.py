"""quantbench's hooks (``plugin.hookspec``) and the runner's probe bundle (``run.probes``): the
plugin registers the hookspecs, a session's bundle calls them with its settings and config, and
the runner runs each probe of its bundle and hands each load and engine to its callbacks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from torch import nn

from quantbench.config import Settings
from quantbench.methods import LoadedModel, Unavailable
from quantbench.plugin.hooks import session_probes
from quantbench.plugin.keys import SETTINGS
from quantbench.results import Metric
from quantbench.run import steady
from quantbench.run.memory import CpuMemory
from quantbench.run.probes import Probes, host_readings
from quantbench.run.runner import Runner
from fakes import FakeConfig, quantbench_hooks

HOOKS = ("pytest_quantbench_model_loaded", "pytest_quantbench_engine_made", "pytest_quantbench_work_pass")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return replace(Settings(), methods=("fp16", "int8"), cache_dir=tmp_path_factory.mktemp("cache"),
                   steady=False)


@pytest.fixture(scope="module")
def model(settings: Settings) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    from quantbench.sources import materialize_synthetic

    path = materialize_synthetic("qwen2-tiny", settings.cache_dir, 0)
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def test_the_plugin_registers_its_hookspecs_each_firstresult() -> None:
    import quantbench.plugin as plugin

    manager = pytest.PytestPluginManager()
    manager.register(plugin)
    manager.hook.pytest_addhooks.call_historic(kwargs={"pluginmanager": manager})
    for name in HOOKS:
        caller = getattr(manager.hook, name)
        assert caller.spec is not None and caller.spec.opts["firstresult"], name


class Recorder:
    """A plugin implementing every hook: records its arguments, replaces the model and the work
    pass, keeps the engine."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def pytest_quantbench_model_loaded(self, model: Any, method: str, settings: Any, config: Any) -> Any:
        self.seen.append(("loaded", model, method, settings, config))
        return "replacement"

    def pytest_quantbench_engine_made(self, engine: Any, model: Any, mode: str, settings: Any,
                                      config: Any) -> None:
        self.seen.append(("engine", engine, model, mode, settings, config))

    def pytest_quantbench_work_pass(self, engine: Any, prompt: Any, new_tokens: int, step_ms: float,
                                    device: str, config: Any) -> tuple[dict[str, Any], list[str]]:
        self.seen.append(("work", engine, prompt, new_tokens, step_ms, device, config))
        return {"x": 1}, ["own pass"]


def test_a_sessions_probes_call_its_hooks_with_its_settings_and_config(settings: Settings) -> None:
    recorder = Recorder()
    config = FakeConfig({})
    config.hook = quantbench_hooks(recorder)  # type: ignore[attr-defined]
    config.stash[SETTINGS] = settings
    probes = session_probes(config)  # type: ignore[arg-type]
    assert probes.model_loaded("model", "fp16") == "replacement"
    assert probes.engine_made("engine", "model", "eager") is None
    assert probes.work_pass("engine", "prompt", 8, 1.5, "cpu") == ({"x": 1}, ["own pass"])
    assert recorder.seen == [("loaded", "model", "fp16", settings, config),
                             ("engine", "engine", "model", "eager", settings, config),
                             ("work", "engine", "prompt", 8, 1.5, "cpu", config)]
    assert probes.freeze_heap is steady.freeze_heap and probes.host is host_readings  # the real ones


def test_the_runner_hands_each_load_and_engine_to_the_callbacks(settings: Settings) -> None:
    loads: list[str] = []
    wrapped = object()

    def model_loaded(model: Any, method: str) -> Any:
        loads.append(method)
        return wrapped if method == "int8" else None

    probes = Probes.null(model_loaded=model_loaded,
                         engine_made=lambda engine, model, mode: ("replaced", engine))
    plain = nn.Linear(2, 2)
    table = {m: (lambda req, m=m: LoadedModel(m, plain, "float32")) for m in ("fp16", "int8")}
    runner = Runner(settings, "cpu", memory=CpuMemory(), loaders=table, probes=probes,
                    engine_factory=lambda model, mode: ("made", model, mode))
    fp16 = runner.load("fp16")
    assert runner.load("fp16") is fp16 and fp16.model is plain  # kept; resident: no second call
    assert runner.load("int8").model is wrapped and runner.load("int8").model is wrapped
    runner.unload()
    runner.load("fp16")
    assert loads == ["fp16", "int8", "fp16"]
    assert runner.new_engine("m", "graph") == ("replaced", ("made", "m", "graph"))


class Meter:
    reason = "energy: the meter's note"

    def read_mj(self) -> float | None:
        return None


def test_the_runner_runs_each_probe_of_its_bundle(settings: Settings, model: Any) -> None:
    seen: list[Any] = []

    def work_pass(engine: Any, prompt: Any, new_tokens: int, step_ms: float, device: str) -> Any:
        seen.append("work")
        return {"decode_py_calls": Metric.exact("decode_py_calls", "calls/token", 9.0,
                                                higher_is_better=False)}, ["the pass's note"]

    probes = Probes.null(energy_meter=lambda device: Meter(), freeze_heap=lambda: seen.append("freeze"),
                         unavailable=lambda method, device: "not here" if method == "int8" else None,
                         host=lambda device, clock: seen.append("host") or (7.0, 3.0), work_pass=work_pass)
    runner = Runner(settings, "cpu", memory=CpuMemory(), probes=probes,
                    loaders={"fp16": lambda req: LoadedModel("fp16", model, "float32")})
    assert seen == ["freeze"]
    with pytest.raises(Unavailable, match="not here"):
        runner.load("int8")
    case, _ = runner.generate_case(runner.load("fp16"), 1, "eager")
    runner.generate_case(runner.load("fp16"), 1, "eager")
    assert seen == ["freeze", "host", "work", "work"]  # the host once, a work pass per case
    assert case.metrics["decode_py_calls"].median == 9.0
    assert case.notes[-3:-1] == ("the pass's note", Meter.reason)  # then the CPU memory note
    parts = runner.record_parts()
    assert parts.skipped == {"int8": "not here"}
    assert (parts.environment["peak_copy_bandwidth_gbs"], parts.environment["launch_overhead_us"]) == (7.0, 3.0)


def test_the_null_probes_read_check_probe_and_profile_nothing(settings: Settings, model: Any) -> None:
    runner = Runner(settings, "cpu", memory=CpuMemory(), probes=Probes.null(),
                    loaders={"int4wo": lambda req: LoadedModel("int4wo", model, "float32")})
    case, _ = runner.generate_case(runner.load("int4wo"), 1, "eager")  # a GPU method: not checked
    assert not {"decode_py_calls", "decode_kernels", "energy_mj_per_token"} & set(case.metrics)
    assert not any(note.startswith(("energy", "device time")) for note in case.notes)
    parts = runner.record_parts()
    assert parts.skipped == {} and parts.environment["peak_copy_bandwidth_gbs"] is None
