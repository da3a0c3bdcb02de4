"""Bad baselines at the gate (issue 15, items 1-3 and 10): a baseline that cannot judge is one
line and exit 4, never a traceback and never a pass; an empty comparison is not a pass either,
unless the user said that no baseline yet is fine.

The gate is driven as the plugin drives it (``baseline_gate.run`` with a session record), the
baseline written as raw JSON so that values no writer would produce (strings, NaN) reach it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable

import pytest

from quantbench import exits
from quantbench.judge import gate as baseline_gate
from quantbench.session import Session
from quantbench.store.baseline import BaselineError, baseline_from_results, baseline_path, load_baseline
from quantbench.results import CaseResult, Metric
from quantbench.config import build_settings
from quantbench.report.reasons import reason_text
from quantbench.report.gate_lines import context_lines, update_lines, verdict_outcome

GPU = "NVIDIA H100 80GB HBM3"
MODEL = "synthetic:qwen2.5-0.5b-instruct"
CASE = "eager/generate-bs1"


def _result(tps: float, case: str = "generate-bs1") -> CaseResult:
    return CaseResult("default", "eager", case, "fp16", "float16", {
        "decode_tps": Metric("decode_tps", "tok/s", tps, tps * 0.99, tps * 1.01, 9, True, 0.01, "converged"),
        "weights_gb": Metric.exact("weights_gb", "GB", 0.998, higher_is_better=False),
    })


def _settings(tmp_path: Path, **table: Any) -> Any:
    return build_settings(table, {"baseline_dir": str(tmp_path / "b"), "report_dir": str(tmp_path / "r"),
                                  "compare": True})


def _valid(settings: Any) -> dict[str, Any]:
    return baseline_from_results(
        [_result(900.0)], gpu=GPU, model_source=MODEL, scenario=settings.scenario.to_dict(),
        environment={"launch_overhead_us": 7.4}, provenance={"kind": "measured", "sessions": 5}).to_dict()


def _gate(tmp_path: Path, edit: Callable[[dict], None] | None = None, *, tps: float = 450.0,
          table: dict | None = None) -> tuple[list[str], int]:
    """Store the valid baseline (after ``edit``), then judge a session measuring ``tps``."""
    settings = _settings(tmp_path, **(table or {}))
    if edit is not None:
        data = _valid(settings)
        edit(data)
        path = baseline_path(settings.baseline_dir, GPU, MODEL)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
    session = Session({"gpu": GPU, "model_source": MODEL, "launch_overhead_us": 7.4},
                      settings.scenario.to_dict(), [_result(tps)])
    verdict, update = baseline_gate.run(session, settings, 0)
    return context_lines(verdict) + what_was_printed(verdict) + update_lines(update), verdict.code


def what_was_printed(verdict: baseline_gate.Verdict) -> list[str]:
    """The verdict table's rows and the outcome line, as the plugin prints them."""
    if verdict.comparison is None:
        return []
    return [f"{r.case_key} {r.method} {r.metric} {r.verdict}: {reason_text(r)}"
            for r in verdict.comparison.rows] + [verdict_outcome(verdict)]


def _metric(data: dict, **values: Any) -> None:
    data["results"][CASE]["fp16"]["decode_tps"].update(values)


def _one_unusable_line(lines: list[str]) -> str:
    unusable = [line for line in lines if line.startswith("quantbench: ")]
    assert len(unusable) == 1, lines
    assert "\n" not in unusable[0]
    assert not [line for line in lines if line.startswith("gate: pass")], lines
    return unusable[0]


def test_the_valid_baseline_judges_a_2x_slowdown_as_a_regression(tmp_path: Path) -> None:
    lines, code = _gate(tmp_path, lambda d: None)
    assert code == exits.REGRESSION, lines
    assert lines[-1] == "gate: FAIL: fp16 (1 regression)"


# item 1: wrong-typed values


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("median", "915", "results.eager/generate-bs1.fp16.decode_tps.median: expected a finite number > 0, got '915'"),
    ("median", None, "results.eager/generate-bs1.fp16.decode_tps.median: expected a finite number > 0, got null"),
    ("n", "lots", "results.eager/generate-bs1.fp16.decode_tps.n: expected a whole number >= 1, got 'lots'"),
    ("higher_is_better", "yes", "results.eager/generate-bs1.fp16.decode_tps.higher_is_better: expected true "
                                "(decode_tps: higher is better), got 'yes'"),
])
def test_wrong_typed_value_is_exit_4_naming_file_and_field(
        tmp_path: Path, field: str, value: Any, expected: str) -> None:
    lines, code = _gate(tmp_path, lambda d: _metric(d, **{field: value}))
    assert code == exits.USAGE, lines
    path = baseline_path(tmp_path / "b", GPU, MODEL)
    assert _one_unusable_line(lines) == f"quantbench: baseline unusable: baseline {path}: {expected}"


# item 2: NaN, zero or negative medians no longer disable a metric


@pytest.mark.parametrize(("values", "expected"), [
    ({"median": math.nan}, "median: expected a finite number > 0, got NaN"),
    ({"median": math.inf, "high": math.inf}, "median: expected a finite number > 0, got Infinity"),
    ({"median": 0.0, "low": 0.0}, "median: expected a finite number > 0, got 0.0"),
    ({"median": -915.0, "low": -920.0}, "median: expected a finite number > 0, got -915.0"),
    ({"low": 950.0}, "low: expected at most the median (900.0), got 950.0"),
    ({"high": 800.0}, "high: expected at least the median (900.0), got 800.0"),
])
def test_nan_zero_negative_or_swapped_medians_are_exit_4_not_a_pass(
        tmp_path: Path, values: dict, expected: str) -> None:
    lines, code = _gate(tmp_path, lambda d: _metric(d, **values))
    assert code == exits.USAGE, lines
    assert _one_unusable_line(lines).endswith(f"results.{CASE}.fp16.decode_tps.{expected}")
    assert not (tmp_path / "r" / "comparison.json").exists(), "no report from a baseline not used"


def test_unknown_metric_name_says_did_you_mean(tmp_path: Path) -> None:
    def rename(data: dict) -> None:
        metrics = data["results"][CASE]["fp16"]
        metrics["decode_tsp"] = metrics.pop("decode_tps")

    lines, code = _gate(tmp_path, rename)
    assert code == exits.USAGE
    assert _one_unusable_line(lines).endswith(
        f"results.{CASE}.fp16.decode_tsp: unknown metric 'decode_tsp' (did you mean 'decode_tps'?)")


def test_unknown_top_level_key_says_did_you_mean(tmp_path: Path) -> None:
    lines, code = _gate(tmp_path, lambda d: d.update(enviroment={}))
    assert code == exits.USAGE
    assert _one_unusable_line(lines).endswith(": unknown key 'enviroment' (did you mean 'environment'?)")


def test_a_string_launch_probe_is_exit_4_not_a_traceback(tmp_path: Path) -> None:
    lines, code = _gate(tmp_path, lambda d: d["environment"].update(launch_overhead_us="fast"))
    assert code == exits.USAGE
    assert _one_unusable_line(lines).endswith(
        "environment.launch_overhead_us: expected a finite number > 0 or null, got 'fast'")


# item 3: an empty comparison is not a pass


def test_empty_results_is_exit_4(tmp_path: Path) -> None:
    lines, code = _gate(tmp_path, lambda d: d.update(results={}))
    assert code == exits.USAGE, lines
    assert _one_unusable_line(lines).endswith("results: expected at least one case, got {}")


def test_baseline_dir_that_is_a_file_is_exit_4(tmp_path: Path) -> None:
    (tmp_path / "b").write_text("not a folder")
    lines, code = _gate(tmp_path)
    assert code == exits.USAGE, lines
    assert _one_unusable_line(lines) == (
        f"quantbench: baseline dir {tmp_path / 'b'} is a file, not a folder: nothing compared")


def test_baseline_dir_that_is_a_file_stays_exit_4_when_a_missing_baseline_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "b").write_text("not a folder")
    lines, code = _gate(tmp_path, table={"allow_missing_baseline": True})
    assert code == exits.USAGE, lines


def test_missing_baseline_is_exit_4_with_the_first_run_message(tmp_path: Path) -> None:
    lines, code = _gate(tmp_path)
    assert code == exits.USAGE, lines
    path = baseline_path(tmp_path / "b", GPU, MODEL)
    assert lines == [f"no baseline for {GPU} / {MODEL} at {path}: nothing compared; create one with "
                     "`pytest benches --qb-update-baseline`, or pass --qb-allow-missing-baseline "
                     "(compare: --allow-missing-baseline) if no baseline yet is fine"]


def test_missing_baseline_passes_when_allowed(tmp_path: Path) -> None:
    lines, code = _gate(tmp_path, table={"allow_missing_baseline": True})
    assert code == exits.OK, lines
    assert len(lines) == 1 and lines[0].startswith(f"no baseline for {GPU} / {MODEL} at ")
    assert lines[0].endswith("nothing compared (allowed: allow_missing_baseline)")


def test_no_row_judged_is_exit_4(tmp_path: Path) -> None:
    def other_case(data: dict) -> None:
        data["results"] = {"eager/prefill-128": data["results"][CASE]}

    lines, code = _gate(tmp_path, other_case)
    assert code == exits.USAGE, lines
    assert lines[-1] == ("quantbench: nothing compared: the baseline holds none of this session's "
                         "1 case result(s) (eager/generate-bs1 fp16)")
    assert not [line for line in lines if line.startswith("gate: pass")]


def test_no_row_judged_passes_when_a_missing_baseline_is_allowed(tmp_path: Path) -> None:
    def other_case(data: dict) -> None:
        data["results"] = {"eager/prefill-128": data["results"][CASE]}

    lines, code = _gate(tmp_path, other_case, table={"allow_missing_baseline": True})
    assert code == exits.OK, lines
    assert lines[-1].startswith("nothing compared: the baseline holds none of this session's")


# item 10: a baseline folder that cannot be entered


def _deny(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make every path under ``folder`` fail as a folder without search permission does."""
    real_stat = os.stat

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if Path(path).is_relative_to(folder) and Path(path) != folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)


def test_baseline_folder_without_permission_is_exit_4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines, code = _gate(tmp_path, lambda d: None)  # a valid baseline is stored
    folder = baseline_path(tmp_path / "b", GPU, MODEL).parent
    _deny(monkeypatch, folder)
    lines, code = _gate(tmp_path)
    assert code == exits.USAGE, lines
    assert _one_unusable_line(lines) == (
        f"quantbench: baseline unusable: cannot read {folder / 'synthetic-qwen2.5-0.5b-instruct.json'}: "
        "permission denied")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_baseline_folder_without_permission_for_real(tmp_path: Path) -> None:
    _gate(tmp_path, lambda d: None)
    folder = baseline_path(tmp_path / "b", GPU, MODEL).parent
    folder.chmod(0o000)
    try:
        lines, code = _gate(tmp_path)
    finally:
        folder.chmod(0o755)
    assert code == exits.USAGE, lines
    assert "permission denied" in _one_unusable_line(lines)


def test_load_baseline_error_is_one_line_naming_the_file(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    data = _valid(settings)
    _metric(data, median="915")
    path = tmp_path / "x.json"
    path.write_text(json.dumps(data))
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    assert str(info.value).startswith(f"baseline {path}: results.")
