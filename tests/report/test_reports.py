"""Reports: the terminal table, the Markdown summary, JSON, the PNG chart and the CI step summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from quantbench import catalog
from quantbench.store.baseline import Baseline
from quantbench.report.chart import write_chart, y_limit
from quantbench.report.chart_panels import (
    NO_BASELINE, VERDICT_COLOURS, Bar, chart_bars, footer, headline, lines, panel_slots, panels,
    uses_ratio,
)
from quantbench.judge.compare import INFO, NOT_RUN, PASS, REGRESSION, Comparison, compare
from quantbench.report.publish import comparison_table, markdown_summary, write_reports
from quantbench.results import CaseResult, Metric
from quantbench.config import SCENARIOS, Settings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sampled(name: str, median: float, half: float, *, hib: bool = True, unit: str = "tok/s") -> Metric:
    return Metric(name, unit, median, median - half, median + half, 30, hib, 0.02, "converged")


def gb(name: str, value: float) -> Metric:
    return Metric.exact(name, "GB", value, higher_is_better=False)


def case(method: str, case_name: str, *metrics: Metric) -> CaseResult:
    return CaseResult("default", "eager", case_name, method, "float16", {m.name: m for m in metrics})


@pytest.fixture
def session() -> tuple[Comparison, list[CaseResult]]:
    baseline = Baseline(
        "NVIDIA H100 80GB HBM3", "synthetic:qwen2.5-0.5b-instruct", SCENARIOS["default"].to_dict(),
        {"eager/generate-bs1": {
            "fp16": {"decode_tps": sampled("decode_tps", 100, 1), "weights_gb": gb("weights_gb", 1.0)},
            "int8": {"decode_tps": sampled("decode_tps", 30, 1), "weights_gb": gb("weights_gb", 0.6)},
            "awq": {"decode_tps": sampled("decode_tps", 80, 1)}},
         "eager/prefill-128": {"fp16": {"prefill_tps": sampled("prefill_tps", 5000, 50)}}},
        {}, {"kind": "measured", "sessions": 5},
    )
    results = [
        case("fp16", "generate-bs1", sampled("decode_tps", 70, 1), gb("weights_gb", 1.0)),
        case("int8", "generate-bs1", sampled("decode_tps", 31, 1), gb("weights_gb", 0.6)),
        case("fp16", "prefill-128", sampled("prefill_tps", 5100, 50), gb("weights_gb", 1.0)),
    ]
    comparison = compare(baseline, results, Settings(), skipped={"awq": "autoawq needs CUDA"})
    return comparison, results


def test_comparison_table_shows_failing_rows_and_every_row_on_request(session) -> None:
    comparison, _ = session
    lines = comparison_table(comparison).splitlines()
    assert lines[0].split() == ["metric", "unit", "before", "after", "change", "tolerance", "verdict"]
    assert lines[1:] == ["eager/generate-bs1 fp16",
                         "  decode_tps  tok/s  100 ±1.0%  70.0 ±1.4%  1.43× worse  10%        regression"]
    every = comparison_table(comparison, show_all=True).splitlines()
    assert len(every) == 1 + 3 + len(comparison.ran)  # the header, a line per (case, method), the rows
    assert "awq" not in "\n".join(every)  # not run: one note per case and method, no rows


def test_approximate_values_show_a_tilde() -> None:
    approx = Metric("e2e_tps", "tok/s", 6.3, 6.25, 6.35, 1, True, None, "published", True)
    baseline = Baseline("Tesla T4", "Qwen/Qwen2.5-0.5B-Instruct", {},
                        {"eager/generate-bs1": {"int8": {"e2e_tps": approx}}}, {}, {"kind": "published"})
    now = case("int8", "generate-bs1", sampled("e2e_tps", 3.0, 0.1))
    comparison = compare(baseline, [now], Settings())
    assert "~6.30" in comparison_table(comparison, show_all=True)


def test_markdown_summary(session) -> None:
    comparison, results = session
    text = markdown_summary(comparison, results, "quantbench on H100")
    assert text.startswith("## quantbench on H100\n")
    head, details = text.split("<details>")
    assert "❌ **FAIL: 1 failing row(s)**" in head
    assert ("- FAIL eager/generate-bs1 fp16 — wall clock (no device data): decode_tps 100 → 70.0 "
            "tok/s, 1.43× worse, tolerance 10%") in head
    header = "| case | method | metric | unit | before | after | change | tolerance | verdict | reason |"
    assert header in head and header in details
    assert "| eager/generate-bs1 | int8 | decode_tps | tok/s |" in details.split("</details>")[0]
    assert "- not run: eager/generate-bs1 awq (skipped: autoawq needs CUDA)" in text
    assert "| awq |" not in text  # the note says it once; no row per metric that did not run
    assert "quantbench · scenario default · eager · generate-bs1" in text


def test_markdown_summary_without_comparison(session) -> None:
    _, results = session
    text = markdown_summary(None, results, "run")
    assert "**Nothing was compared**: no baseline comparison in this run." in text
    assert "regression" not in text


def test_write_reports_writes_all_three(session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    comparison, results = session
    written = write_reports(tmp_path / "out", comparison, results, {"gpu": "H100"})
    assert set(written) == {"summary.md", "comment.md", "comparison.json", "comparison.png"}
    assert all(p.parent == tmp_path / "out" for p in written.values())
    png = written["comparison.png"].read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 1000
    data = json.loads(written["comparison.json"].read_text())
    assert data["environment"] == {"gpu": "H100"}
    assert data["comparison"]["exit_ok"] is False
    assert data["comparison"]["regressions"] == 1
    assert len(data["comparison"]["rows"]) == len(comparison.rows)
    assert len(data["results"]) == 3
    assert written["summary.md"].read_text() == markdown_summary(comparison, results, "quantbench")


def test_step_summary_is_appended(session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    comparison, results = session
    step = tmp_path / "step_summary.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    written = write_reports(tmp_path / "out", comparison, results, {}, title="gate")
    # The job page gets the short digest, the same text a workflow posts as the PR comment.
    assert step.read_text() == "earlier step\n" + written["comment.md"].read_text() + "\n"


def test_missing_matplotlib_skips_the_png(session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    comparison, results = session
    written = write_reports(tmp_path, comparison, results, {})
    assert set(written) == {"summary.md", "comment.md", "comparison.json"}
    assert not (tmp_path / "comparison.png").exists()
    assert "comparison.png not written: matplotlib is not installed" in written["summary.md"].read_text()


def test_write_reports_without_comparison(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    results = [case("fp16", "generate-bs1", sampled("decode_tps", 70, 1), gb("weights_gb", 1.0))]
    written = write_reports(tmp_path, None, results, {})
    assert written["comparison.png"].read_bytes().startswith(PNG_SIGNATURE)
    assert json.loads(written["comparison.json"].read_text())["comparison"] is None


def test_chart_draws_only_what_ran(session) -> None:
    comparison, results = session
    bars = chart_bars(comparison, results)
    assert any(r.verdict == NOT_RUN for r in comparison.rows)  # awq: in the baseline, not run
    assert {(b.case_key, b.method, b.metric, b.verdict) for b in bars} == {
        ("eager/generate-bs1", "fp16", "decode_tps", REGRESSION),
        ("eager/generate-bs1", "fp16", "weights_gb", PASS),
        ("eager/generate-bs1", "int8", "decode_tps", PASS),
        ("eager/generate-bs1", "int8", "weights_gb", PASS),
        ("eager/prefill-128", "fp16", "prefill_tps", PASS),
        ("eager/prefill-128", "fp16", "weights_gb", NO_BASELINE),  # measured, no baseline holds it
    }
    assert all(b.baseline is None for b in bars if b.verdict == NO_BASELINE)


def test_bar_colours_come_from_verdicts(session) -> None:
    comparison, results = session
    for bar in chart_bars(comparison, results):
        assert bar.colour == VERDICT_COLOURS[bar.verdict]
    assert set(VERDICT_COLOURS) == {"regression", "within noise", "pass", "improvement", INFO,
                                     NO_BASELINE, "quality fail", "unconfirmed"}
    assert VERDICT_COLOURS[REGRESSION] != VERDICT_COLOURS[PASS]


def test_one_panel_per_case_and_family_in_reading_order(session) -> None:
    comparison, results = session
    drawn = panels(chart_bars(comparison, results), [r.method for r in results])
    assert list(drawn) == [("eager/generate-bs1", "wall"), ("eager/generate-bs1", "memory"),
                           ("eager/prefill-128", "wall"), ("eager/prefill-128", "memory")]
    assert [(b.method, b.metric) for b in drawn[("eager/generate-bs1", "memory")]] == [
        ("fp16", "weights_gb"), ("int8", "weights_gb")]
    # gated with a baseline: now / baseline against the tolerance band; no baseline: values
    assert uses_ratio(drawn[("eager/generate-bs1", "wall")])
    assert all(b.tolerance == 0.10 for b in drawn[("eager/generate-bs1", "wall")])
    assert not uses_ratio(drawn[("eager/prefill-128", "memory")])


def test_gpu_and_host_work_get_panels_of_their_own_against_their_tolerance_bands() -> None:
    def count(name: str, value: float, unit: str) -> Metric:
        return Metric.exact(name, unit, value, higher_is_better=False)

    def work(kernel_us: float, kernels: float) -> list[Metric]:
        return [sampled("decode_tps", 70, 1),
                sampled("decode_kernel_us", kernel_us, 2, hib=False, unit="us/token"),
                count("decode_kernels", kernels, "kernels/token"),
                count("decode_launches", 1042.0, "launches/token")]

    before, after = work(2341, 1055.0), work(2770, 1173.0)
    baseline = Baseline("NVIDIA H200", "synthetic:qwen2.5-0.5b-instruct", SCENARIOS["default"].to_dict(),
                        {"eager/generate-bs1": {"fp16": {m.name: m for m in before}}}, {}, {"kind": "measured"})
    results = [case("fp16", "generate-bs1", *after)]
    drawn = panels(chart_bars(compare(baseline, results, Settings()), results))
    assert list(drawn) == [("eager/generate-bs1", "gpu"), ("eager/generate-bs1", "host"),
                           ("eager/generate-bs1", "wall")]
    gpu = drawn[("eager/generate-bs1", "gpu")]
    assert [(b.metric, b.tolerance, b.verdict) for b in gpu] == [
        ("decode_kernel_us", 0.03, REGRESSION), ("decode_kernels", 0.005, REGRESSION)]
    assert uses_ratio(gpu) and uses_ratio(drawn[("eager/generate-bs1", "host")])  # one unit, gated
    # without a baseline: values where a panel has one unit; GPU work mixes two, so it has
    # nothing to divide by and is left out (the footer counts its bars)
    assert list(panels(chart_bars(None, results))) == [("eager/generate-bs1", "host"),
                                                       ("eager/generate-bs1", "wall")]


def test_ratio_is_current_over_the_baseline_median() -> None:
    bar = Bar("eager/generate-bs1", "info", "fp16", "roofline_pct", "%",
              Metric("roofline_pct", "%", 3.0, 2.7, 3.3, 5, True),
              Metric("roofline_pct", "%", 2.0, 1.8, 2.2, 5, True), INFO)
    base, now = bar.ratios()
    assert base == pytest.approx((1.0, 0.9, 1.1)) and now == pytest.approx((1.5, 1.35, 1.65))
    zero = Bar(bar.case_key, "info", "fp16", "graph_breaks", "count", gb("graph_breaks", 2),
               gb("graph_breaks", 0), INFO)
    assert zero.ratios() is None


def test_mixed_units_use_ratios_and_drop_what_cannot_be_divided() -> None:
    bw = Metric("decode_bandwidth_gbs", "GB/s", 300, 290, 310, 5, True)
    with_base = Bar("c", "info", "fp16", "decode_bandwidth_gbs", "GB/s", bw, bw, INFO)
    no_base = Bar("c", "info", "fp16", "rss_gb", "GB", gb("rss_gb", 2.0), None, NO_BASELINE)
    assert uses_ratio([with_base, no_base]) and not uses_ratio([with_base])
    assert panels([with_base, no_base]) == {("c", "info"): [with_base]}
    assert panels([no_base]) == {("c", "info"): [no_base]}  # one unit: values, no ratio needed
    text = footer(None, [with_base, no_base], {("c", "info"): [with_base]})
    assert text.startswith("Not drawn: 1 metric(s) with no usable baseline in a mixed-unit panel.")


def test_panels_of_a_case_wrap_and_cases_start_a_line() -> None:
    widths = {("a", "throughput"): 20, ("a", "latency"): 20, ("a", "memory"): 20, ("b", "info"): 5}
    assert lines(widths, max_slots=48) == [
        [("a", "throughput"), ("a", "latency")], [("a", "memory")], [("b", "info")]]


def test_panel_width_fits_its_bars_and_its_title() -> None:
    bars = [Bar("eager/generate-bs1", "memory", "fp16", f"m{i}", "GB", gb("m", 1.0), None,
                NO_BASELINE) for i in range(20)]
    assert panel_slots(("eager/generate-bs1", "memory"), bars) == 20 + 3
    # "eager/generate-bs1 · memory": 27 characters x 0.08 in over 0.34 in a slot -> 7 slots
    assert panel_slots(("eager/generate-bs1", "memory"), bars[:1]) == 3 + 7


def test_y_limit_cuts_one_wide_interval_at_twice_the_tallest_median() -> None:
    assert y_limit([((10, 0, 100), (10, 9, 11))], ratio=False) == pytest.approx(2 * 10 * 1.3)
    assert y_limit([((10, 9, 12), (8, 7, 9))], ratio=False) == pytest.approx(12 * 1.3)
    assert y_limit([((1.0, 0.9, 1.1), (0.5, 0.4, 0.6))], ratio=True) == pytest.approx(1.1 * 1.3)


def test_headline_and_footer_state_the_verdict_and_what_is_not_drawn(session) -> None:
    comparison, results = session
    assert headline(comparison).split("\n") == [
        "FAIL against the NVIDIA H100 80GB HBM3 baseline: 1 regression · 4 pass",
        "FAIL eager/generate-bs1 fp16 — wall clock (no device data): decode_tps 100 → 70.0 tok/s, "
        "1.43× worse, tolerance 10%"]
    assert headline(None) == "No baseline comparison in this run: values only"
    bars = chart_bars(comparison, results)
    text = footer(comparison, bars, panels(bars))
    assert text.startswith("Not drawn: 1 baseline metric(s) not run in this session.\n")


def test_write_chart_writes_a_png_and_skips_a_session_with_nothing_measured(
    session, tmp_path: Path
) -> None:
    comparison, results = session
    assert write_chart(tmp_path / "c.png", comparison, results) is None
    assert (tmp_path / "c.png").read_bytes().startswith(PNG_SIGNATURE)
    note = write_chart(tmp_path / "none.png", compare_nothing(comparison), [])
    assert note == "comparison.png not written: no measured metrics to draw"
    assert not (tmp_path / "none.png").exists()


def compare_nothing(comparison: Comparison) -> Comparison:
    """The same baseline rows, every one of them not run."""
    return Comparison(tuple(r for r in comparison.rows if r.verdict == NOT_RUN), (), "H100")
