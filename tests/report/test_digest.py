"""The PR comment digest (``report.digest``): failing rows first, every other row folded."""

from __future__ import annotations

from quantbench.config import Settings
from quantbench.store.baseline import Baseline
from quantbench.judge.compare import Comparison, Row, compare
from quantbench.report import digest as digest_module
from quantbench.report.digest import digest
from quantbench.results import CaseResult, Metric


def sampled(name: str, median: float, unit: str = "tok/s", hib: bool = True) -> Metric:
    return Metric(name, unit, median, median * 0.99, median * 1.01, 30, hib, 0.01, "converged")


def comparison() -> Comparison:
    base = {"eager/generate-bs1": {
        "fp16": {"decode_tps": sampled("decode_tps", 100), "ttft_ms": sampled("ttft_ms", 10, "ms", False)},
        "nf4": {"decode_tps": sampled("decode_tps", 60)}, "awq": {"decode_tps": sampled("decode_tps", 50)}}}
    baseline = Baseline("NVIDIA H100 80GB HBM3", "synthetic:x", {}, base, {},
                        {"kind": "measured", "sessions": 5})  # calibrated: wall rows gate
    now = [CaseResult("default", "eager", "generate-bs1", "fp16", "",
                      {"decode_tps": sampled("decode_tps", 70), "ttft_ms": sampled("ttft_ms", 10, "ms", False)}),
           CaseResult("default", "eager", "generate-bs1", "nf4", "", {"decode_tps": sampled("decode_tps", 75)})]
    return compare(baseline, now, Settings(), skipped={"awq": "autoawq needs CUDA"})


def test_failing_rows_come_first_and_the_rest_is_folded() -> None:
    text = digest(comparison(), "quantbench: H100")
    head, folded = text.split("<details>")
    assert head.startswith("### quantbench: H100\n\n❌ **1 failing** against NVIDIA H100 80GB HBM3 · "
                           "1 improvement, 1 pass, 1 not run\n")
    assert "| eager/generate-bs1 | fp16 | decode_tps | 100 ±1.0% → 70.0 ±1.0% tok/s | -30.0% | ±10% | regression |" in head
    assert "FAIL eager/generate-bs1 fp16 — wall clock (no device data)" in head
    assert "nf4" not in head and "ttft_ms" not in head
    assert folded.startswith("<summary>2 other row(s), 1 note(s)</summary>")
    assert folded.index("| nf4 | decode_tps") < folded.index("| fp16 | ttft_ms")  # improvement first
    assert "- not run: eager/generate-bs1 awq (skipped: autoawq needs CUDA)" in folded
    assert text.rstrip().endswith("</details>")


def test_nothing_failing_and_nothing_compared() -> None:
    rows = tuple(r for r in comparison().rows if r.verdict != "regression")
    text = digest(Comparison(rows, ()), "t")
    assert "✅ **nothing failing**" in text and "<summary>2 other row(s)</summary>" in text
    assert digest(None, "t") == "### t\n\nNo baseline comparison in this run.\n"


def _many(verdict: str, n: int = 50) -> tuple[Row, ...]:
    row = next(r for r in comparison().rows if r.verdict == verdict)
    return tuple(Row(f"eager/case-{i}", row.method, row.metric, row.unit, row.baseline, row.current,
                     row.change, row.tolerance, row.verdict, row.reason) for i in range(n))


def test_a_long_fold_is_cut_to_fit_a_comment(monkeypatch) -> None:
    monkeypatch.setattr(digest_module, "MAX_CHARS", 1200)
    text = digest(Comparison(_many("pass"), ()), "t")
    assert len(text) <= 1200
    assert "more line(s) cut to fit a comment: see summary.md_" in text
    assert text.rstrip().endswith("</details>")


def test_too_many_failing_rows_are_cut_too_and_nothing_is_folded(monkeypatch) -> None:
    monkeypatch.setattr(digest_module, "MAX_CHARS", 1200)
    text = digest(Comparison(_many("regression") + _many("pass", 3), ()), "t")
    assert len(text) <= 1200
    assert "❌ **50 failing**" in text and "more line(s) cut to fit a comment" in text
    assert "<details>" not in text
