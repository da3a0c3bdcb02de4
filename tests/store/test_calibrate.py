"""A baseline from several sessions: median of medians, an interval over every session, n summed."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from quantbench.commands import calibrate
from quantbench.store.baseline import baseline_path, load_baseline
from quantbench.results import CaseResult, Metric
from quantbench.config import SCENARIOS
from quantbench.stats import merge_metric, prediction_halfwidth, t975
from fakes import GPU, MODEL, SCENARIO, decode_metric, session_file, ttft_metric

@pytest.fixture
def three(tmp_path: Path) -> list[Path]:
    return [
        session_file(tmp_path, "run1", decode_metric(100.0, 98.0, 103.0, 30, 0.02), ttft_metric(20.0, 11)),
        session_file(tmp_path, "run2", decode_metric(120.0, 119.0, 125.0, 25, 0.05), ttft_metric(16.0, 12)),
        session_file(tmp_path, "run3", decode_metric(90.0, 89.0, 93.0, 40, 0.01), ttft_metric(18.0, 13)),
    ]


def _run(paths: list[Path], baseline_dir: Path) -> int:
    return calibrate.main([*map(str, paths), "--baseline-dir", str(baseline_dir)])


def test_merges_sessions_into_a_baseline(tmp_path: Path, three: list[Path], capsys: pytest.CaptureFixture) -> None:
    out_dir = tmp_path / "baselines"
    assert _run(three, out_dir) == 0
    path = baseline_path(out_dir, GPU, MODEL)
    assert path == out_dir / "nvidia-h100-80gb-hbm3" / "synthetic-qwen2.5-0.5b-instruct.json"
    assert capsys.readouterr().out.strip() == f"baseline written: {path} from 3 sessions"

    b = load_baseline(path)
    assert (b.gpu, b.model_source, b.scenario) == (GPU, MODEL, SCENARIO)
    assert b.provenance["kind"] == "measured"
    assert b.provenance["sessions"] == 3
    assert b.provenance["command"] == "python -m quantbench calibrate " + " ".join(map(str, three))
    assert b.environment["sessions"] == ["2025-01-01T00:00:00+00:00", "2025-01-02T00:00:00+00:00",
                                         "2025-01-03T00:00:00+00:00"]
    assert b.environment["device"] == "cuda"
    assert list(b.results) == ["eager/generate-bs1"]
    assert list(b.results["eager/generate-bs1"]) == ["fp16"]
    metrics = b.results["eager/generate-bs1"]["fp16"]

    decode = metrics["decode_tps"]
    assert decode.median == 100.0  # median of 100, 120, 90
    # the 95 % prediction interval for a fourth session: median ± t(2) × s × sqrt(1 + 1/3),
    # wider than every session's own interval and median (90 .. 125)
    spread = 4.30265273 * statistics.stdev([100.0, 120.0, 90.0]) * (4 / 3) ** 0.5
    assert (decode.low, decode.high) == pytest.approx((100.0 - spread, 100.0 + spread))
    assert decode.n == 30 + 25 + 40
    assert decode.cv == 0.05  # the largest session cv
    assert decode.stop == "sessions"
    assert (decode.unit, decode.higher_is_better) == ("tok/s", True)

    ttft = metrics["ttft_ms"]
    assert ttft.median == 18.0
    spread = 4.30265273 * statistics.stdev([20.0, 16.0, 18.0]) * (4 / 3) ** 0.5
    assert (ttft.low, ttft.high) == pytest.approx((18.0 - spread, 18.0 + spread))
    assert ttft.n == 36
    assert ttft.higher_is_better is False

    weights = metrics["weights_gb"]  # the same exact count every time stays exact
    assert (weights.median, weights.low, weights.high, weights.n, weights.stop) == (0.998, 0.998, 0.998, 3, "exact")


def test_even_number_of_sessions_averages_the_middle_medians(tmp_path: Path) -> None:
    paths = [
        session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0)),
        session_file(tmp_path, "run2", decode_metric(110.0, 109.0, 111.0, 5, 0.01), ttft_metric(22.0)),
    ]
    assert _run(paths, tmp_path / "b") == 0
    m = load_baseline(baseline_path(tmp_path / "b", GPU, MODEL)).results["eager/generate-bs1"]["fp16"]
    assert m["decode_tps"].median == 105.0
    spread = 12.7062047 * statistics.stdev([100.0, 110.0]) * 1.5 ** 0.5
    assert (m["decode_tps"].low, m["decode_tps"].high) == pytest.approx((105.0 - spread, 105.0 + spread))
    assert m["ttft_ms"].median == 21.0


def test_exact_counts_that_differ_become_an_interval(tmp_path: Path) -> None:
    paths = [
        session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0), weights=1.0),
        session_file(tmp_path, "run2", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0), weights=1.25),
        session_file(tmp_path, "run3", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0), weights=1.5),
    ]
    assert _run(paths, tmp_path / "b") == 0
    w = load_baseline(baseline_path(tmp_path / "b", GPU, MODEL)).results["eager/generate-bs1"]["fp16"]["weights_gb"]
    spread = 4.30265273 * statistics.stdev([1.0, 1.25, 1.5]) * (4 / 3) ** 0.5
    assert (w.median, w.stop) == (1.25, "sessions")
    assert (w.low, w.high) == pytest.approx((1.25 - spread, 1.25 + spread))


def test_a_case_only_some_sessions_ran_is_kept_from_those(tmp_path: Path) -> None:
    """With --min-sessions 1, a case one session ran is kept from that session alone."""
    extra = CaseResult("default", "eager", "prefill-128", "fp16", "float16",
                       {"prefill_tps": Metric("prefill_tps", "tok/s", 5000.0, 4900.0, 5100.0, 9, True, 0.01, "converged")})
    paths = [
        session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0), extra_results=(extra,)),
        session_file(tmp_path, "run2", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0)),
    ]
    assert calibrate.main([*map(str, paths), "--baseline-dir", str(tmp_path / "b"),
                           "--min-sessions", "1"]) == 0
    b = load_baseline(baseline_path(tmp_path / "b", GPU, MODEL))
    assert sorted(b.results) == ["eager/generate-bs1", "eager/prefill-128"]
    prefill = b.results["eager/prefill-128"]["fp16"]["prefill_tps"]
    assert (prefill.median, prefill.low, prefill.high, prefill.n) == (5000.0, 4900.0, 5100.0, 9)
    assert b.results["eager/generate-bs1"]["fp16"]["decode_tps"].n == 10


def test_merge_metric_directly() -> None:
    a = Metric("peak_gb", "GB", 2.0, 2.0, 2.0, 1, False, None, "exact")
    b = Metric("peak_gb", "GB", 2.0, 2.0, 2.0, 1, False, None, "exact", approximate=True)
    merged = merge_metric([a, b])
    assert merged == Metric("peak_gb", "GB", 2.0, 2.0, 2.0, 2, False, None, "exact", False)


def test_mismatched_gpu_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    paths = [
        session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0)),
        session_file(tmp_path, "run2", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0), gpu="Tesla T4"),
    ]
    out_dir = tmp_path / "baselines"
    assert _run(paths, out_dir) == 4
    assert not out_dir.exists()
    err = capsys.readouterr().err.strip()
    assert err == (f"quantbench calibrate: {paths[1]}: gpu 'Tesla T4' differs from {paths[0]}'s {GPU!r}")


def test_mismatched_model_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    paths = [
        session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0)),
        session_file(tmp_path, "run2", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0), model="synthetic:qwen2-tiny"),
    ]
    assert _run(paths, tmp_path / "baselines") == 4
    assert not (tmp_path / "baselines").exists()
    assert "model_source 'synthetic:qwen2-tiny' differs" in capsys.readouterr().err


def test_mismatched_scenario_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    paths = [
        session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0)),
        session_file(tmp_path, "run2", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0),
                 scenario=SCENARIOS["t4-study"].to_dict()),
    ]
    assert _run(paths, tmp_path / "baselines") == 4
    assert not (tmp_path / "baselines").exists()
    assert capsys.readouterr().err.strip() == (f"quantbench calibrate: {paths[1]}: scenario differs from "
                                               f"{paths[0]}'s in new_tokens, batch_sizes, prefill_lengths")


def test_sessions_of_other_round_counts_or_budgets_are_one_scenario(tmp_path: Path) -> None:
    """Only the fields the gate compares must agree: a session of fewer minimum rounds (the
    default moved from 3 to 1) measures the same thing."""
    fewer = {**SCENARIOS["default"].to_dict(), "min_rounds": 3, "prompts": 5}
    paths = [
        session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0)),
        session_file(tmp_path, "run2", decode_metric(101.0, 99.0, 102.0, 5, 0.01), ttft_metric(20.0), scenario=fewer),
    ]
    assert _run(paths, tmp_path / "baselines") == 0


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0))
    missing = tmp_path / "run9" / "session.json"
    assert _run([good, missing], tmp_path / "baselines") == 4
    assert not (tmp_path / "baselines").exists()
    assert capsys.readouterr().err.strip() == f"quantbench calibrate: no session file at {missing}"


@pytest.mark.parametrize("content, why", [
    ("{not json", "invalid JSON: Expecting property name enclosed in double quotes at line 1"),
    (json.dumps({"environment": {"gpu": GPU}, "results": [], "scenario": {}}), "environment: missing key 'model_source'"),
    (json.dumps({"environment": {"gpu": GPU, "model_source": MODEL}}), "missing key 'results'"),
])
def test_unusable_file(tmp_path: Path, capsys: pytest.CaptureFixture, content: str, why: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert _run([bad], tmp_path / "baselines") == 4
    err = capsys.readouterr().err
    assert err.startswith(f"quantbench calibrate: session file {bad} is unusable: ")
    assert why in err
    assert not (tmp_path / "baselines").exists()


def test_sessions_holding_no_results(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0))
    data = json.loads(a.read_text())
    data["results"] = []
    b, c = tmp_path / "other.json", tmp_path / "another.json"
    b.write_text(json.dumps(data))
    c.write_text(json.dumps(data))
    assert _run([b, c], tmp_path / "baselines") == 4
    assert capsys.readouterr().err.strip() == "quantbench calibrate: the sessions hold no results"
    assert not (tmp_path / "baselines").exists()


def test_second_calibration_keeps_the_previous_baseline(tmp_path: Path, three: list[Path],
                                                        capsys: pytest.CaptureFixture) -> None:
    out_dir = tmp_path / "baselines"
    assert _run(three, out_dir) == 0
    path = baseline_path(out_dir, GPU, MODEL)
    first = path.read_bytes()
    capsys.readouterr()

    later = [
        session_file(tmp_path, "run4", decode_metric(130.0, 129.0, 131.0, 5, 0.01), ttft_metric(15.0)),
        session_file(tmp_path, "run5", decode_metric(140.0, 139.0, 141.0, 5, 0.01), ttft_metric(15.0)),
    ]
    assert _run(later, out_dir) == 0
    history = list((path.parent / "history").iterdir())
    assert len(history) == 1
    assert history[0].name.startswith("synthetic-qwen2.5-0.5b-instruct.") and history[0].suffix == ".json"
    assert history[0].read_bytes() == first
    assert capsys.readouterr().out.strip() == (
        f"baseline written: {path} from 2 sessions; previous kept as {history[0]}")
    assert load_baseline(path).results["eager/generate-bs1"]["fp16"]["decode_tps"].median == 135.0


def test_memory_from_keeps_memory_only_from_the_named_session(tmp_path: Path) -> None:
    weights = {"peak_gb": Metric("peak_gb", "GB", 1.15, 1.15, 1.15, 1, False, 0.0, "exact")}
    clean = {"peak_gb": Metric("peak_gb", "GB", 0.52, 0.52, 0.52, 1, False, 0.0, "exact")}
    a = session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0),
                 extra_results=(CaseResult("default", "eager", "generate-bs1", "nf4", "nf4", weights),))
    b = session_file(tmp_path, "run2", decode_metric(110.0, 109.0, 111.0, 5, 0.01), ttft_metric(20.0),
                 extra_results=(CaseResult("default", "eager", "generate-bs1", "nf4", "nf4", clean),))
    assert calibrate.main([str(a), str(b), "--baseline-dir", str(tmp_path / "b"),
                           "--memory-from", str(b)]) == 0
    base = load_baseline(baseline_path(tmp_path / "b", GPU, MODEL))
    peak = base.results["eager/generate-bs1"]["nf4"]["peak_gb"]
    assert (peak.median, peak.low, peak.high, peak.n) == (0.52, 0.52, 0.52, 1)
    assert base.results["eager/generate-bs1"]["fp16"]["decode_tps"].median == 105.0
    assert "--memory-from" in base.provenance["command"]


def test_memory_from_must_name_a_given_session(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0))
    assert calibrate.main([str(a), "--baseline-dir", str(tmp_path / "b"),
                           "--memory-from", str(tmp_path / "other.json")]) == 4
    assert "is not one of the sessions given" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(("df", "t"), [(1, 12.706), (2, 4.303), (4, 2.776), (20, 2.086), (21, 2.080), (500, 1.965)])
def test_t_quantiles(df: int, t: float) -> None:
    assert t975(df) == pytest.approx(t, abs=5e-4)  # the printed tables' values


def test_prediction_halfwidth_is_exact() -> None:
    # k = 3, s = 10: 4.30265273 * 10 * sqrt(4/3)
    assert prediction_halfwidth([90.0, 100.0, 110.0]) == pytest.approx(49.68276, abs=1e-4)
    assert prediction_halfwidth([100.0]) == 0.0


def test_exclude_metric_leaves_it_out_everywhere(tmp_path: Path) -> None:
    a = session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0))
    assert calibrate.main([str(a), "--baseline-dir", str(tmp_path / "b"), "--min-sessions", "1",
                           "--exclude-metric", "ttft_ms"]) == 0
    base = load_baseline(baseline_path(tmp_path / "b", GPU, MODEL))
    assert sorted(base.results["eager/generate-bs1"]["fp16"]) == ["decode_tps", "weights_gb"]
    assert base.provenance["command"].endswith("--exclude-metric ttft_ms --min-sessions 1")


def test_exclude_result_drops_cases_everywhere_or_from_named_sessions(tmp_path: Path) -> None:
    def nf4(median: float) -> CaseResult:
        return CaseResult("default", "generate-compiled", "generate-bs1", "nf4", "nf4",
                          {"decode_tps": decode_metric(median, median - 1, median + 1, 5, 0.01)})

    def awq() -> CaseResult:
        return CaseResult("default", "eager", "generate-bs1", "awq", "int4",
                          {"decode_tps": decode_metric(26.0, 25.0, 27.0, 3, 0.1)})

    old = session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0),
                   extra_results=(nf4(24.0), awq()))
    new = session_file(tmp_path, "run2", decode_metric(110.0, 109.0, 111.0, 5, 0.01), ttft_metric(20.0),
                   extra_results=(nf4(243.0), awq()))
    assert calibrate.main([str(old), str(new), "--baseline-dir", str(tmp_path / "b"),
                           "--exclude-result", "*run1*:generate-compiled/*/nf4",
                           "--exclude-result", "eager/generate-*/awq", "--min-sessions", "1"]) == 0
    base = load_baseline(baseline_path(tmp_path / "b", GPU, MODEL))
    kept = base.results["generate-compiled/generate-bs1"]["nf4"]["decode_tps"]
    assert (kept.median, kept.low, kept.high) == (243.0, 242.0, 244.0)  # run2's alone
    assert "awq" not in base.results["eager/generate-bs1"]
    assert base.results["eager/generate-bs1"]["fp16"]["decode_tps"].median == 105.0
    assert "--exclude-result '*run1*:generate-compiled/*/nf4'" in base.provenance["command"]


def test_excluded_matches_mode_case_method_and_session_path() -> None:
    result = CaseResult("default", "eager", "prefill-128", "int8", "int8", {})
    assert calibrate.excluded(Path("a/s1-session.json"), result, ["eager/prefill-*/int8"])
    assert calibrate.excluded(Path("a/s1-session.json"), result, ["*s1-*:eager/*/*"])
    assert not calibrate.excluded(Path("a/s2-session.json"), result, ["*s1-*:eager/*/*"])
    assert not calibrate.excluded(Path("a/s1-session.json"), result, ["compiled/*/int8"])


def test_metrics_from_too_few_sessions_are_left_out_and_named(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A sampled metric only one session measured has no between-session spread, so it stays
    out of a calibrated baseline (the gate would cry wolf on it); exact ones are kept."""
    def awq(median: float) -> CaseResult:
        return CaseResult("default", "eager", "generate-bs1", "awq", "int4",
                          {"decode_tps": decode_metric(median, median - 1, median + 1, 3, 0.1),
                           "weights_gb": Metric.exact("weights_gb", "GB", 0.459, higher_is_better=False)})

    a = session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0),
                 extra_results=(awq(15.1),))
    b = session_file(tmp_path, "run2", decode_metric(110.0, 109.0, 111.0, 5, 0.01), ttft_metric(20.0))
    assert calibrate.main([str(a), str(b), "--baseline-dir", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "left out, measured in fewer than 2 sessions: eager/generate-bs1 awq: decode_tps" in out.splitlines()
    base = load_baseline(baseline_path(tmp_path / "b", GPU, MODEL))
    assert sorted(base.results["eager/generate-bs1"]["awq"]) == ["weights_gb"]
    assert base.results["eager/generate-bs1"]["fp16"]["decode_tps"].median == 105.0

    assert calibrate.main([str(a), str(b), "--baseline-dir", str(tmp_path / "c"),
                           "--min-sessions", "1"]) == 0
    one = load_baseline(baseline_path(tmp_path / "c", GPU, MODEL))
    assert one.results["eager/generate-bs1"]["awq"]["decode_tps"].median == 15.1


def test_min_sessions_below_one_is_a_usage_error(tmp_path: Path, three: list[Path]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        calibrate.main([*map(str, three), "--baseline-dir", str(tmp_path / "b"), "--min-sessions", "0"])
    assert exit_info.value.code == 4  # quantbench.exits.USAGE
    assert not (tmp_path / "b").exists()


def test_a_partial_session_is_used_and_named(tmp_path: Path, three: list[Path],
                                            capsys: pytest.CaptureFixture) -> None:
    data = json.loads(three[2].read_text())
    three[2].write_text(json.dumps({**data, "partial": True}))
    assert _run(three, tmp_path / "b") == 0
    assert f"partial (cut-off) sessions, their finished cases used: {three[2]}" in capsys.readouterr().out


def test_a_session_with_a_failed_method_is_used_and_its_failure_named(tmp_path: Path, three: list[Path],
                                                                     capsys: pytest.CaptureFixture) -> None:
    why = "awq failed in test_generate[awq-bs1-compiled]: RuntimeError: inductor failed"
    data = json.loads(three[2].read_text())
    three[2].write_text(json.dumps({**data, "failures": {"awq": why}}))
    assert _run(three, tmp_path / "b") == 0
    assert f"failed in {three[2]}, its other cases used: {why}" in capsys.readouterr().out

def test_baseline_keeps_the_median_launch_overhead_of_the_sessions_that_probed_it(
        tmp_path: Path, three: list[Path]) -> None:
    for path, us in zip(three, (7.0, 12.0, None)):
        data = json.loads(path.read_text())
        data["environment"]["launch_overhead_us"] = us
        path.write_text(json.dumps(data))
    assert _run(three, tmp_path / "b") == 0
    assert load_baseline(baseline_path(tmp_path / "b", GPU, MODEL)).environment["launch_overhead_us"] == 9.5
    copy = tmp_path / "copy.json"
    copy.write_bytes(three[2].read_bytes())
    assert _run([three[2], copy], tmp_path / "c") == 0
    assert load_baseline(baseline_path(tmp_path / "c", GPU, MODEL)).environment["launch_overhead_us"] is None
