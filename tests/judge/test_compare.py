"""Verdicts against a baseline: compatibility checks, every verdict, the noise test, tolerances."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from quantbench.store.baseline import Baseline, BaselineError, load_baseline, write_baseline
from quantbench.judge.compare import (
    IMPROVEMENT,
    INFO,
    NOT_RUN,
    PASS,
    REGRESSION,
    UNCONFIRMED,
    WITHIN_NOISE,
    compare,
    relative_change,
)
from quantbench.report.what_moved import what_moved
from quantbench.store.compatible import check_compatible
from quantbench.results import CaseResult, Metric
from quantbench.config import SCENARIOS, Settings, build_settings
from quantbench.stats import z_score
from quantbench.report.reasons import notes_text, reason_text, row_dict

REPO = Path(__file__).resolve().parents[2]
T4_FILE = REPO / "baselines" / "nvidia-tesla-t4" / "qwen2.5-0.5b-instruct.json"
GPU = "NVIDIA H100 80GB HBM3"
SOURCE = "synthetic:qwen2.5-0.5b-instruct"
CASE = "eager/generate-bs1"


def sampled(name: str, median: float, half: float, *, hib: bool = True, unit: str = "tok/s") -> Metric:
    return Metric(name, unit, median, median - half, median + half, 30, hib, 0.02, "converged")


def exact(name: str, value: float, *, hib: bool = False, unit: str = "GB") -> Metric:
    return Metric.exact(name, unit, value, higher_is_better=hib)


def result(method: str, *metrics: Metric, case: str = "generate-bs1") -> CaseResult:
    return CaseResult("default", "eager", case, method, "float16", {m.name: m for m in metrics})


def make_baseline(results: dict[str, dict[str, dict[str, Metric]]], **scenario: object) -> Baseline:
    return Baseline(GPU, SOURCE, {**SCENARIOS["default"].to_dict(), **scenario}, results,
                    {"torch": "2.13.0"}, {"kind": "measured", "command": "pytest benches", "sessions": 5})


def one(base: Metric, now: Metric | None, settings: Settings | None = None, **kw: object):
    baseline = make_baseline({CASE: {"fp16": {base.name: base}}})
    results = [result("fp16", now)] if now is not None else []
    comparison = compare(baseline, results, settings or Settings(), **kw)
    assert len(comparison.rows) == 1
    return comparison.rows[0], comparison


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, bytes, Baseline]:
    path = tmp_path / "b.json"
    write_baseline(path, make_baseline({CASE: {"fp16": {"decode_tps": sampled("decode_tps", 100, 2)}}}))
    return path, path.read_bytes(), load_baseline(path)


# --- compatibility -------------------------------------------------------------------------------

def test_compatible_run_passes(stored: tuple[Path, bytes, Baseline]) -> None:
    path, before, b = stored
    check_compatible(b, gpu=GPU, model_source=SOURCE, scenario=SCENARIOS["default"].to_dict())
    assert path.read_bytes() == before


def test_other_gpu(stored: tuple[Path, bytes, Baseline]) -> None:
    path, before, b = stored
    with pytest.raises(BaselineError) as info:
        check_compatible(b, gpu="Tesla T4", model_source=SOURCE,
                         scenario=SCENARIOS["default"].to_dict())
    assert str(info.value) == f"baseline is for {GPU}, this GPU is Tesla T4"
    assert path.read_bytes() == before


def test_gpu_named_with_or_without_vendor_is_the_same_gpu() -> None:
    b = load_baseline(T4_FILE)
    assert b.gpu == "Tesla T4"  # stored without the vendor
    scenario = SCENARIOS["t4-study"].to_dict()
    for gpu in ("NVIDIA Tesla T4", "Tesla T4"):  # raises BaselineError if judged another GPU
        assert check_compatible(b, gpu=gpu, model_source="Qwen/Qwen2.5-0.5B-Instruct", scenario=scenario) is None
    with pytest.raises(BaselineError, match="this GPU is NVIDIA Tesla V100"):
        check_compatible(b, gpu="NVIDIA Tesla V100", model_source="Qwen/Qwen2.5-0.5B-Instruct", scenario=scenario)


def test_other_model(stored: tuple[Path, bytes, Baseline]) -> None:
    path, before, b = stored
    with pytest.raises(BaselineError, match="baseline is for model synthetic:qwen2.5-0.5b-instruct, "
                                            "this run uses synthetic:qwen2-tiny"):
        check_compatible(b, gpu=GPU, model_source="synthetic:qwen2-tiny",
                         scenario=SCENARIOS["default"].to_dict())
    assert path.read_bytes() == before


def test_scenario_mismatch_names_the_field(stored: tuple[Path, bytes, Baseline]) -> None:
    path, before, b = stored
    run = {**SCENARIOS["default"].to_dict(), "new_tokens": 32}
    with pytest.raises(BaselineError) as info:
        check_compatible(b, gpu=GPU, model_source=SOURCE, scenario=run)
    assert str(info.value) == "baseline scenario differs in new_tokens: baseline 64, run 32"
    assert path.read_bytes() == before


def test_scenario_mismatch_lists_every_field_on_one_line() -> None:
    b = make_baseline({})
    run = {**SCENARIOS["default"].to_dict(), "greedy": False, "batch_sizes": (1,)}
    with pytest.raises(BaselineError) as info:
        check_compatible(b, gpu=GPU, model_source=SOURCE, scenario=run)
    assert str(info.value) == ("baseline scenario differs in batch_sizes: baseline [1, 8], run [1]; "
                               "greedy: baseline True, run False")


def test_scenario_fields_outside_comparable_ones_are_ignored() -> None:
    b = make_baseline({})
    run = {**SCENARIOS["default"].to_dict(), "name": "other", "prompts": 3, "min_rounds": 1,
           "batch_sizes": (1, 8)}
    assert {k: run[k] for k in ("name", "prompts", "min_rounds")} != {k: b.scenario.get(k) for k in
                                                                   ("name", "prompts", "min_rounds")}
    assert check_compatible(b, gpu=GPU, model_source=SOURCE, scenario=run) is None  # no BaselineError
    with pytest.raises(BaselineError, match="new_tokens"):  # a comparable field still counts
        check_compatible(b, gpu=GPU, model_source=SOURCE, scenario={**run, "new_tokens": 32})


def test_published_baseline_compares_only_fields_it_states() -> None:
    before = T4_FILE.read_bytes()
    b = load_baseline(T4_FILE)
    assert "prompt_tokens" not in b.scenario
    run = SCENARIOS["t4-study"].to_dict()
    check_compatible(b, gpu="Tesla T4", model_source="Qwen/Qwen2.5-0.5B-Instruct", scenario=run)
    with pytest.raises(BaselineError, match="differs in prefill_lengths: baseline \\[\\], run \\[128\\]"):
        check_compatible(b, gpu="Tesla T4", model_source="Qwen/Qwen2.5-0.5B-Instruct",
                         scenario={**run, "prefill_lengths": [128]})
    assert T4_FILE.read_bytes() == before


# --- verdicts ------------------------------------------------------------------------------------

def test_pass() -> None:
    row, comparison = one(sampled("decode_tps", 100, 2), sampled("decode_tps", 95, 2))
    assert row.verdict == PASS
    assert row.change == pytest.approx(-0.05)
    assert row.tolerance == 0.10
    assert comparison.exit_ok and not comparison.regressions


def test_regression_beyond_tolerance_and_noise() -> None:
    row, comparison = one(sampled("decode_tps", 100, 2), sampled("decode_tps", 80, 1))
    assert row.verdict == REGRESSION
    assert row.change == pytest.approx(-0.20)
    assert row.z == pytest.approx(-20 / math.hypot(2 / 1.96, 1 / 1.96))
    assert comparison.regressions == [row]
    assert not comparison.exit_ok


def test_within_noise_when_intervals_are_wide() -> None:
    row, comparison = one(sampled("decode_tps", 100, 20), sampled("decode_tps", 85, 20))
    assert row.verdict == WITHIN_NOISE
    assert row.change == pytest.approx(-0.15)
    assert abs(row.z) < 1.96
    assert comparison.exit_ok


def test_improvement_says_baseline_may_be_stale() -> None:
    row, comparison = one(sampled("decode_tps", 100, 2), sampled("decode_tps", 130, 2))
    assert row.verdict == IMPROVEMENT
    assert "baseline may be stale" in reason_text(row)
    assert comparison.improvements == [row]
    assert comparison.exit_ok


def test_better_but_within_noise_is_a_pass() -> None:
    row, _ = one(sampled("decode_tps", 100, 20), sampled("decode_tps", 115, 20))
    assert row.verdict == PASS
    assert "within noise" in reason_text(row)


def test_lower_is_better_change_is_flipped() -> None:
    worse, _ = one(sampled("ttft_ms", 10, 0.1, hib=False, unit="ms"),
                   sampled("ttft_ms", 12, 0.1, hib=False, unit="ms"))
    better, _ = one(sampled("ttft_ms", 10, 0.1, hib=False, unit="ms"),
                    sampled("ttft_ms", 8, 0.1, hib=False, unit="ms"))
    assert (worse.verdict, worse.change) == (REGRESSION, pytest.approx(-0.2))
    assert (better.verdict, better.change) == (IMPROVEMENT, pytest.approx(0.2))


def test_exact_counts_are_decided_by_tolerance_alone() -> None:
    regressed, _ = one(exact("weights_gb", 1.0), exact("weights_gb", 1.06))
    fine, _ = one(exact("weights_gb", 1.0), exact("weights_gb", 1.04))
    assert regressed.verdict == REGRESSION and regressed.z is None
    assert "tolerance alone" in reason_text(regressed)
    assert regressed.tolerance == 0.05
    assert fine.verdict == PASS


def test_change_exactly_at_tolerance_passes() -> None:
    row, _ = one(exact("weights_gb", 0.998), exact("weights_gb", 0.998 * 1.05))
    assert row.verdict == PASS


def test_info_metrics_are_never_gated() -> None:
    row, comparison = one(sampled("roofline_pct", 80, 1, unit="%"), sampled("roofline_pct", 10, 1, unit="%"))
    assert row.verdict == INFO
    assert row.tolerance is None
    assert row.change == pytest.approx(-0.875)
    assert comparison.exit_ok


def test_zero_baseline_gives_infinite_change() -> None:
    row, _ = one(exact("peak_gb", 0.0), exact("peak_gb", 0.5))
    assert row.change == -math.inf and row.verdict == REGRESSION
    assert row_dict(row)["change"] is None
    assert relative_change(0.0, 0.0, True) == 0.0


# --- not run -------------------------------------------------------------------------------------

def test_not_run_with_skip_reason() -> None:
    row, comparison = one(sampled("decode_tps", 100, 2), None,
                          skipped={"fp16": "needs CUDA, this machine has none"})
    assert row.verdict == NOT_RUN
    assert row.current is None and row.change is None
    assert reason_text(row) == "skipped: needs CUDA, this machine has none"
    assert notes_text(comparison) == ["not run: eager/generate-bs1 fp16 (skipped: needs CUDA, this machine has none)"]
    assert comparison.not_run == [row]
    assert comparison.exit_ok


def test_not_run_reasons_without_skip() -> None:
    baseline = make_baseline({
        CASE: {"fp16": {"decode_tps": sampled("decode_tps", 100, 2),
                        "ttft_ms": sampled("ttft_ms", 10, 0.1, hib=False, unit="ms")},
               "int8": {"decode_tps": sampled("decode_tps", 30, 1)}},
        "eager/prefill-128": {"fp16": {"prefill_tps": sampled("prefill_tps", 1000, 10)}},
    })
    comparison = compare(baseline, [result("fp16", sampled("decode_tps", 100, 2))], Settings())
    reasons = {(r.case_key, r.method, r.metric): (r.verdict, reason_text(r)) for r in comparison.rows}
    assert reasons == {
        (CASE, "fp16", "decode_tps"): (PASS, "+0.0% is within ±10%"),
        (CASE, "fp16", "ttft_ms"): (NOT_RUN, "metric not measured in this run"),
        (CASE, "int8", "decode_tps"): (NOT_RUN, "method did not run in this session"),
        ("eager/prefill-128", "fp16", "prefill_tps"): (NOT_RUN, "case did not run in this session"),
    }
    assert len(comparison.not_run) == 3


def test_results_without_baseline_are_noted() -> None:
    baseline = make_baseline({CASE: {"fp16": {"decode_tps": sampled("decode_tps", 100, 2)}}})
    comparison = compare(baseline, [result("fp16", sampled("decode_tps", 100, 2)),
                                    result("bf16", sampled("decode_tps", 100, 2))], Settings())
    assert notes_text(comparison) == ["no baseline for eager/generate-bs1 bf16 (not compared)"]
    assert [r.method for r in comparison.rows] == ["fp16"]


# --- tolerances ----------------------------------------------------------------------------------

def test_tolerance_per_metric_and_per_kind() -> None:
    settings = build_settings({"tolerances": {"throughput": 0.3, "memory": 0.2}},
                              {"tolerance": ["decode_tps=0.2"]})
    assert settings.tolerance("decode_tps") == 0.2
    assert settings.tolerance("e2e_tps") == 0.3
    assert settings.tolerance("ttft_ms") == 0.10
    baseline = make_baseline({CASE: {"fp16": {
        "decode_tps": sampled("decode_tps", 100, 1), "e2e_tps": sampled("e2e_tps", 100, 1),
        "weights_gb": exact("weights_gb", 1.0)}}})
    run = [result("fp16", sampled("decode_tps", 75, 1), sampled("e2e_tps", 75, 1),
                  exact("weights_gb", 1.15))]
    configured = {r.metric: (r.verdict, r.tolerance) for r in compare(baseline, run, settings).rows}
    default = {r.metric: (r.verdict, r.tolerance) for r in compare(baseline, run, Settings()).rows}
    assert configured == {"decode_tps": (REGRESSION, 0.2), "e2e_tps": (PASS, 0.3),
                          "weights_gb": (PASS, 0.2)}
    assert default == {"decode_tps": (REGRESSION, 0.1), "e2e_tps": (REGRESSION, 0.1),
                       "weights_gb": (REGRESSION, 0.05)}


# --- the published T4 baseline -------------------------------------------------------------------

def t4(method: str, tps: Metric, gb: float) -> CaseResult:
    return result(method, tps, exact("weights_gb", gb))


def test_published_single_values_are_one_session_of_evidence() -> None:
    """A published single run says nothing of the wall clock's spread between sessions: a move
    past tolerance is unconfirmed (with the A/B that would confirm it), 2x worse fails."""
    b = load_baseline(T4_FILE)
    assert b.session_count == 1
    noisy_but_slow = sampled("e2e_tps", 21.0, 8.0)
    assert z_score(b.results[CASE]["fp16"]["e2e_tps"], noisy_but_slow) is None
    comparison = compare(b, [t4("fp16", noisy_but_slow, 0.998), t4("awq", sampled("e2e_tps", 17.5, 0.1), 0.47)],
                         Settings(), skipped={"int8": "bitsandbytes is not installed"})
    rows = {(r.method, r.metric): r for r in comparison.rows}
    assert rows[("fp16", "e2e_tps")].verdict == UNCONFIRMED
    assert "holds 1 session(s)" in reason_text(rows[("fp16", "e2e_tps")])
    assert "python -m quantbench ab " in reason_text(rows[("fp16", "e2e_tps")])
    assert "--qb-methods fp16 --qb-modes eager -k 'generate and bs1'" in reason_text(rows[("fp16", "e2e_tps")])
    assert rows[("fp16", "weights_gb")].verdict == PASS
    assert rows[("awq", "e2e_tps")].verdict == PASS
    assert rows[("awq", "weights_gb")].verdict == PASS
    assert rows[("int8", "e2e_tps")].verdict == NOT_RUN
    assert reason_text(rows[("int8", "e2e_tps")]) == "skipped: bitsandbytes is not installed"
    assert comparison.exit_ok
    halved = compare(b, [t4("fp16", sampled("e2e_tps", 8.0, 0.1), 0.998)], Settings())
    row = next(r for r in halved.rows if r.metric == "e2e_tps" and r.method == "fp16")
    assert row.verdict == REGRESSION and "x worse: beyond the 3x" in reason_text(row)


def test_approximate_published_value_uses_its_rounding_interval() -> None:
    b = load_baseline(T4_FILE)
    base = b.results[CASE]["int8"]["e2e_tps"]
    slow = sampled("e2e_tps", 5.5, 0.05)
    assert z_score(base, slow) == pytest.approx((5.5 - 6.3) / math.hypot(0.05 / 1.96, 0.05 / 1.96))
    rows = {r.metric: r for r in compare(b, [t4("int8", slow, 0.642)], Settings()).rows
            if r.method == "int8"}
    assert rows["e2e_tps"].verdict == UNCONFIRMED
    fine = {r.metric: r for r in compare(b, [t4("int8", sampled("e2e_tps", 6.0, 0.05), 0.642)],
                                         Settings()).rows if r.method == "int8"}
    assert fine["e2e_tps"].verdict == PASS


def test_method_not_run_leaves_stored_baseline_unchanged(stored: tuple[Path, bytes, Baseline]) -> None:
    path, before, b = stored
    comparison = compare(b, [], Settings(), skipped={"fp16": "out of memory"})
    assert [r.verdict for r in comparison.rows] == [NOT_RUN]
    assert reason_text(comparison.rows[0]) == "skipped: out of memory"
    assert path.read_bytes() == before
    assert load_baseline(path) == b


# --- the sharp gate: device time, exact work counters, and what moved -------------------------

def _device(value: float) -> Metric:
    return Metric("decode_kernel_us", "us/token", value, value, value, 1, False, None, "fixed")


def test_kernels_per_token_are_judged_exactly_and_say_what_changed() -> None:
    row, _ = one(exact("decode_kernels", 1029.34, unit="kernels/token"),
                 exact("decode_kernels", 1173.34, unit="kernels/token"))
    assert row.verdict == REGRESSION and row.tolerance == 0.005
    assert reason_text(row) == ("1029.34 → 1173.34 kernels/token "
                          "(-14.0% is worse than ±0.5%; tolerance alone (no usable spread))")
    same, _ = one(exact("decode_kernels", 1029.34), exact("decode_kernels", 1029.34))
    assert same.verdict == PASS


def test_device_time_has_a_tight_default_tolerance() -> None:
    slower, _ = one(_device(2341.2), _device(2341.2 * 1.04))
    assert (slower.verdict, slower.tolerance) == (REGRESSION, 0.03)
    lease, _ = one(_device(2341.2), _device(2349.0))  # two leases' figures, issue 11: +0.3 %
    assert lease.verdict == PASS and reason_text(lease) == "-0.3% is within ±3%"


def test_what_moved_names_gpu_work_host_work_or_only_the_machine() -> None:
    base = {"fp16": {"decode_kernel_us": _device(2341.2), "decode_tps": sampled("decode_tps", 60, 1),
                     "decode_kernels": exact("decode_kernels", 1029.34)},
            "nf4": {"decode_py_calls": exact("decode_py_calls", 2000.0, unit="calls/token"),
                    "decode_tps": sampled("decode_tps", 40, 1)},
            "int8": {"decode_kernel_us": _device(3000.0), "decode_tps": sampled("decode_tps", 20, 1)}}
    now = [result("fp16", _device(2770.0), sampled("decode_tps", 50, 1),
                  exact("decode_kernels", 1173.34)),
           result("nf4", exact("decode_py_calls", 2300.0, unit="calls/token"), sampled("decode_tps", 30, 1)),
           result("int8", _device(3000.0), sampled("decode_tps", 14, 1))]
    rows = compare(make_baseline({CASE: base}), now, Settings()).rows
    assert what_moved(rows) == [
        "FAIL eager/generate-bs1 fp16 — GPU work: decode_kernel_us 2,341 → 2,770 us/token, 1.18× worse, "
        "tolerance 3% (+2 more)",
        "FAIL eager/generate-bs1 int8 — only the wall clock: decode_tps 20.0 → 14.0 tok/s, 1.43× worse, "
        "tolerance 10%",
        "FAIL eager/generate-bs1 nf4 — host work: decode_py_calls 2,000 → 2,300 calls/token, "
        "1.15× worse, tolerance 0.5%",  # "(+1 more)" would pass 120 columns
    ]
