"""Stand-ins and made-up records that several test files share, importable by name (unlike
conftest.py, which pytest loads itself and which holds the shared fixtures).

- ``FakeConfig``: what a test plugin's ``pytest_configure`` or hook sees of ``pytest.Config``;
  ``quantbench_hooks``: quantbench's hooks as a session calls them, with the plugins given;
- the A/B's: ``FakeAbRunner`` stands in for ``PYTHON -m pytest benches`` under
  ``python -m quantbench ab`` and writes the session file the run would leave; ``ab`` runs it;
- the sweep's: generate cases and sessions of two model sizes (``case``, ``session``, ``gpu_runs``);
- calibrate's: session files of one fp16 case (``session_file``) and their metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pytest

from quantbench.commands.ab import main
from quantbench.config import SCENARIOS, Scenario
from quantbench.report.sweep_map import ModelRun
from quantbench.results import CaseResult, Metric
from quantbench.session import Session


class FakeConfig:
    """``getoption`` answers from ``options`` (an option not given there fails the test: the plugin
    read one it should not), ``stash`` is a real ``pytest.Stash``, ``add_cleanup`` collects."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)
        self.cleanups: list[Callable[[], Any]] = []
        self.stash = pytest.Stash()

    def getoption(self, name: str) -> Any:
        assert name in self.options, f"the plugin read option {name!r}, not one of {sorted(self.options)}"
        return self.options[name]

    def add_cleanup(self, fn: Callable[[], Any]) -> None:
        self.cleanups.append(fn)


def quantbench_hooks(*plugins: Any) -> Any:
    """A plugin manager's hook relay with quantbench's hookspecs registered as the plugin does
    (``pytest_addhooks``), quantbench's own implementations and ``plugins`` (modules, objects)."""
    from quantbench.plugin import hooks

    manager = pytest.PytestPluginManager()
    hooks.pytest_addhooks(manager)
    manager.register(hooks)
    for plugin in plugins:
        manager.register(plugin)
    return manager.hook


# the A/B's

PYTEST_ARGS = ["-k", "generate and bs1", "--qb-methods", "fp16"]


def metric(name: str, value: float) -> Metric:
    """A decode-like throughput of ``value`` ± 1 %."""
    return Metric(name, "tok/s", value, value * 0.99, value * 1.01, 20, True, 0.01, "budget")


@dataclass
class FakeAbRunner:
    """Writes a session per call; ``speed`` maps side to per-pair decode tok/s, ``codes`` maps
    ``(side, pair)`` to an exit status and ``no_file``/``partial`` name runs to spoil."""

    speed: Mapping[str, Sequence[float]]
    codes: Mapping[tuple[str, int], int] = field(default_factory=dict)
    no_file: tuple[tuple[str, int], ...] = ()
    partial: tuple[tuple[str, int], ...] = ()
    gpu: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, list[CaseResult]] = field(default_factory=dict)
    ttft: Mapping[str, Sequence[float]] = field(default_factory=dict)  # per-pair TTFT, ms
    calls: list[tuple[str, int, list[str], Path, dict[str, str]]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> int:
        report = Path(argv[argv.index("--qb-report-dir") + 1])
        side, pair = report.name.split("-")
        key = (side, int(pair))
        self.calls.append((side, int(pair), list(argv), cwd, dict(env)))
        log.write_text(f"fake run of {side} {pair}\n")
        if key not in self.no_file:
            tps = self.speed[side][int(pair) - 1]
            result = CaseResult("default", "eager", "generate-bs1", "fp16", "float32",
                                {"decode_tps": metric("decode_tps", tps)})
            if self.ttft:  # with a counter that never moves, which auto must not wait on
                result.metrics["decode_kernels"] = Metric.exact("decode_kernels", "kernels/token", 900.0,
                                                                higher_is_better=False)
                ms = self.ttft[side][int(pair) - 1]
                result.metrics["ttft_ms"] = Metric("ttft_ms", "ms", ms, ms * 0.99, ms * 1.01, 20, False,
                                                   0.01, "budget")
            Session({"gpu": self.gpu.get(side, "cpu"), "model_source": "synthetic:qwen2-tiny"},
                    Scenario("default").to_dict(), [result, *self.extra.get(side, [])],
                    partial=key in self.partial,
                    ).write(report / "session.json")
        return self.codes.get(key, 0)


def ab(tmp_path: Path, runner: FakeAbRunner, *extra: str, pairs: int | str = 3) -> int:
    """``python -m quantbench ab`` over ``pairs`` pairs with ``runner`` standing in for pytest."""
    base_dir, head_dir = tmp_path / "base-src", tmp_path / "head-src"
    base_dir.mkdir(exist_ok=True)
    head_dir.mkdir(exist_ok=True)
    argv = ["--base", "/envs/base/python", "--head", "/envs/head/python", "--pairs", str(pairs),
            "--head-args", "-p quantbench.testing.slowdown --qb-slowdown 0.25",
            "--base-dir", str(base_dir), "--head-dir", str(head_dir),
            "--out", str(tmp_path / "ab"), *extra, "--", *PYTEST_ARGS]
    return main(argv, run=runner)


# the sweep's

SMALL, BIG = "synthetic:qwen2.5-0.5b-instruct", "synthetic:qwen2.5-7b-instruct"
PARAMS = {SMALL: 494_032_768, BIG: 7_615_616_512}
RTN = ("AWQ on synthetic weights: round-to-nearest packing (no calibration search); same "
       "kernels and bytes as a calibrated AWQ checkpoint")


def case(method: str, mode: str, tps: float, weights: float, kernel: float | None = None,
         notes: tuple[str, ...] = ()) -> CaseResult:
    """A generate case; on a GPU (kernel given) prefill kernels take kernel/50 and the peak is
    the weights plus 0.1 GB."""
    metrics = {"decode_tps": Metric("decode_tps", "tok/s", tps, tps * 0.99, tps * 1.01, 20, True),
               "weights_gb": Metric.exact("weights_gb", "GB", weights, higher_is_better=False)}
    if kernel is not None:
        for name, value in (("decode_kernel_us", kernel), ("prefill_kernel_us", kernel / 50)):
            metrics[name] = Metric(name, "us/token", value, value, value, 5, False)
        metrics["peak_gb"] = Metric.exact("peak_gb", "GB", weights + 0.1, higher_is_better=False)
    return CaseResult("default", mode, "generate-bs1", method, "x", metrics, notes)


def session(model: str, results: list[CaseResult], partial: bool = False) -> Session:
    """One model's session on an H100."""
    return Session({"gpu": "NVIDIA H100", "model_source": model}, Scenario("default").to_dict(),
                   results, partial=partial)


def gpu_runs() -> list[ModelRun]:
    """7B and 0.5B (given out of size order) on a GPU; 7B compiled has no fp16 case."""
    big = session(BIG, [case("fp16", "eager", 120.0, 15.2, 6500.0),
                        case("awq", "eager", 72.0, 5.5, 3800.0, (RTN,)),
                        case("int4wo", "eager", 90.0, 5.0, 3250.0),
                        case("int4wo", "generate-compiled", 100.0, 5.0, 3760.0)])
    small = session(SMALL, [case("fp16", "eager", 320.0, 0.988, 1437.0),
                            case("awq", "eager", 100.0, 0.45, 1500.0, (RTN,))])
    return [ModelRun(BIG, PARAMS[BIG], 0, "passed", "out/big", big),
            ModelRun(SMALL, PARAMS[SMALL], 0, "passed", "out/small", small)]


# calibrate's

GPU = "NVIDIA H100 80GB HBM3"
MODEL = "synthetic:qwen2.5-0.5b-instruct"
SCENARIO = SCENARIOS["default"].to_dict()


def decode_metric(median: float, low: float, high: float, n: int, cv: float) -> Metric:
    """A converged decode throughput with the interval and spread given."""
    return Metric("decode_tps", "tok/s", median, low, high, n, True, cv, "converged")


def session_file(tmp: Path, name: str, decode: Metric, ttft: Metric, *, gpu: str = GPU, model: str = MODEL,
             scenario: dict | None = None, weights: float = 0.998, extra_results: tuple = (),
             date: str | None = None) -> Path:
    weights_m = Metric.exact("weights_gb", "GB", weights, higher_is_better=False)
    results = [
        CaseResult("default", "eager", "generate-bs1", "fp16", "float16",
                   {"decode_tps": decode, "ttft_ms": ttft, "weights_gb": weights_m}, ("a note",)),
        *extra_results,
    ]
    data = {
        "environment": {"gpu": gpu, "model_source": model, "date": date or f"2025-01-0{name[-1]}T00:00:00+00:00",
                        "device": "cuda"},
        "results": [r.to_dict() for r in results],
        "scenario": scenario if scenario is not None else SCENARIO,
        "loads": {"fp16": 1},
    }
    path = tmp / name / "session.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def ttft_metric(median: float, n: int = 10) -> Metric:
    """A TTFT of ``median`` ± 1 ms over ``n`` rounds."""
    return Metric("ttft_ms", "ms", median, median - 1.0, median + 1.0, n, False, 0.01, "budget")
