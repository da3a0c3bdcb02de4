"""Reports: the terminal table, the Markdown summary, JSON, the PNG chart and the CI step summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from quantbench.judge.baseline import Baseline
from quantbench.judge.compare import Comparison, compare
from quantbench.report.files import comparison_table, markdown_summary, write_reports
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
        {}, {"kind": "measured"},
    )
    results = [
        case("fp16", "generate-bs1", sampled("decode_tps", 70, 1), gb("weights_gb", 1.0)),
        case("int8", "generate-bs1", sampled("decode_tps", 31, 1), gb("weights_gb", 0.6)),
        case("fp16", "prefill-128", sampled("prefill_tps", 5100, 50), gb("weights_gb", 1.0)),
    ]
    comparison = compare(baseline, results, Settings(), skipped={"awq": "autoawq needs CUDA"})
    return comparison, results


def test_comparison_table_has_the_columns_and_one_line_per_row(session) -> None:
    comparison, _ = session
    lines = comparison_table(comparison).splitlines()
    header = [c.strip() for c in lines[0].split("|")]
    assert header == ["case", "method", "metric", "baseline", "now", "change", "tolerance", "verdict"]
    assert len(lines) == 2 + len(comparison.rows)
    fp16 = next(line for line in lines if "fp16" in line and "decode_tps" in line)
    cells = [c.strip() for c in fp16.split("|")]
    assert cells[5:] == ["-30.0%", "±10%", "regression"]
    awq = next(line for line in lines if "awq" in line)
    assert [c.strip() for c in awq.split("|")][4:] == ["-", "-", "±10%", "not run"]


def test_approximate_values_show_a_tilde() -> None:
    approx = Metric("e2e_tps", "tok/s", 6.3, 6.25, 6.35, 1, True, None, "published", True)
    baseline = Baseline("Tesla T4", "Qwen/Qwen2.5-0.5B-Instruct", {},
                        {"eager/generate-bs1": {"int8": {"e2e_tps": approx}}}, {}, {"kind": "published"})
    comparison = compare(baseline, [], Settings())
    assert "~6.30" in comparison_table(comparison)


def test_markdown_summary(session) -> None:
    comparison, results = session
    text = markdown_summary(comparison, results, "quantbench on H100")
    assert text.startswith("## quantbench on H100\n")
    assert "❌ **1 regression(s)**" in text
    assert "| case | method | metric | baseline | now | change | tolerance | verdict | reason |" in text
    assert "- not run: eager/generate-bs1 awq (skipped: autoawq needs CUDA)" in text
    assert "| awq |" not in text  # the note says it once; no row per metric that did not run
    assert "| eager/generate-bs1 | int8 | decode_tps tok/s |" in text
    assert "quantbench · scenario default · eager · generate-bs1" in text


def test_markdown_summary_without_comparison(session) -> None:
    _, results = session
    text = markdown_summary(None, results, "run")
    assert "No baseline comparison in this run." in text
    assert "regression" not in text


def test_write_reports_writes_all_three(session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    comparison, results = session
    written = write_reports(tmp_path / "out", comparison, results, {"gpu": "H100"})
    assert set(written) == {"summary.md", "comparison.json", "comparison.png"}
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
    assert step.read_text() == "earlier step\n" + written["summary.md"].read_text() + "\n"


def test_missing_matplotlib_skips_the_png(session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    comparison, results = session
    written = write_reports(tmp_path, comparison, results, {})
    assert set(written) == {"summary.md", "comparison.json"}
    assert not (tmp_path / "comparison.png").exists()
    assert "comparison.png not written: matplotlib is not installed" in written["summary.md"].read_text()


def test_write_reports_without_comparison(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    results = [case("fp16", "generate-bs1", sampled("decode_tps", 70, 1), gb("weights_gb", 1.0))]
    written = write_reports(tmp_path, None, results, {})
    assert written["comparison.png"].read_bytes().startswith(PNG_SIGNATURE)
    assert json.loads(written["comparison.json"].read_text())["comparison"] is None
