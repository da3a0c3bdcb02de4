"""The baseline gate's judgement lines: a host whose kernel launches are much slower or faster
than the baseline's is named beside the verdicts, which it does not change."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantbench import exits
from quantbench.judge import gate as baseline_gate
from quantbench.store.baseline import baseline_from_results, baseline_path, write_baseline
from quantbench.results import CaseResult, Metric
from quantbench.config import build_settings
from quantbench.session import Session
from quantbench.report.gate_lines import context_lines, verdict_outcome

GPU = "NVIDIA H100 80GB HBM3"
MODEL = "synthetic:qwen2.5-0.5b-instruct"


def _result(tps: float) -> CaseResult:
    return CaseResult("default", "eager", "generate-bs1", "fp16", "float16",
                      {"e2e_tps": Metric("e2e_tps", "tok/s", tps, tps - 1, tps + 1, 9, True, 0.01, "converged")})


def _judge(tmp_path: Path, baseline_us: float | None, session_us: float | None) -> tuple[list[str], int]:
    settings = build_settings({}, {"baseline_dir": str(tmp_path / "b"), "report_dir": str(tmp_path / "r"),
                                   "compare": True})
    write_baseline(baseline_path(settings.baseline_dir, GPU, MODEL), baseline_from_results(
        [_result(40.0)], gpu=GPU, model_source=MODEL, scenario=settings.scenario.to_dict(),
        environment={"launch_overhead_us": baseline_us}, provenance={"kind": "measured"}))
    session = Session({"gpu": GPU, "model_source": MODEL, "launch_overhead_us": session_us},
                      settings.scenario.to_dict(), [_result(40.0)])
    verdict = baseline_gate.judge_session(session, settings)
    return context_lines(verdict) + [verdict_outcome(verdict)], verdict.code


def test_a_slow_host_is_named_and_the_verdict_is_unchanged(tmp_path: Path) -> None:
    lines, code = _judge(tmp_path, 7.4, 12.0)
    assert code == exits.OK
    host = [line for line in lines if line.startswith("host: ")]
    assert host == [next(line for line in lines if "12.0 us per kernel launch vs 7.4 us" in line)]
    assert "(+62 %)" in host[0]
    assert lines[-1].startswith("gate: pass")


def test_no_host_line_when_close_or_unprobed(tmp_path: Path) -> None:
    for baseline_us, session_us in ((7.4, 8.0), (None, 12.0), (7.4, None)):
        lines, _ = _judge(tmp_path / str(baseline_us) / str(session_us), baseline_us, session_us)
        assert not [line for line in lines if line.startswith("host: ")]


def test_the_baseline_line_fits_120_columns_or_puts_a_long_path_on_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    short, _ = _judge(Path("s"), None, None)
    assert short[0] == f"compared with {baseline_path(Path('s/b'), GPU, MODEL)} (measured, undated)"
    deep = tmp_path / ("a-folder-with-a-long-name-" * 3)
    lines, code = _judge(deep, None, None)
    path = baseline_path(deep / "b", GPU, MODEL)
    assert code == exits.OK
    assert lines[:2] == ["compared with the measured baseline (undated):", f"  {path}"]
