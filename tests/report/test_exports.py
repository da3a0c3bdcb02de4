"""Dashboard exports (``report.exports``): checked against each tool's published format, and a
session's exports round-trip (value and bounds are the session's median and 95 % interval).

- github-action-benchmark: the custom tools (``customBiggerIsBetter`` / ``customSmallerIsBetter``)
  read a JSON array of ``BenchmarkResult`` = ``{name: string, value: number, range?: string,
  unit: string, extra?: string}`` and refuse an empty one ("No benchmark result was found"):
  benchmark-action/github-action-benchmark, ``src/extract.ts`` (``interface BenchmarkResult``,
  ``extractCustomBenchmarkResult``, ``extractResult``).
- Bencher Metric Format: the JSON Schema ``https://bencher.dev/bmf.json`` published at
  https://bencher.dev/docs/reference/bencher-metric-format/: an object whose keys (``.+``) are
  benchmarks, each an object whose keys (``.+``) are measures, each an object with a required
  number ``value`` and optional numbers ``lower_value`` and ``upper_value``; a measure slug is
  at most 64 characters.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from quantbench.config import SettingsError, build_settings
from quantbench.report.exports import export_session, gab_paths, parse_exports, write_exports, session_run
from quantbench.results import CaseResult, Metric
from quantbench.session import Session

GAB_KEYS = {"name": str, "value": (int, float), "unit": str}
GAB_OPTIONAL = {"range": str, "extra": str}
SLUG = re.compile(r"^[a-z0-9-]{1,64}$")


def check_gab(data: object) -> None:
    """``BenchmarkResult[]`` as ``extract.ts`` declares it, non-empty."""
    assert isinstance(data, list) and data
    for entry in data:
        assert set(entry) <= set(GAB_KEYS) | set(GAB_OPTIONAL)
        for key, kind in GAB_KEYS.items():
            assert isinstance(entry[key], kind) and not isinstance(entry[key], bool)
        for key, kind in GAB_OPTIONAL.items():
            assert key not in entry or isinstance(entry[key], kind)


def check_bmf(data: object) -> None:
    """The BMF JSON Schema, rule by rule."""
    assert isinstance(data, dict) and data
    for benchmark, measures in data.items():
        assert isinstance(benchmark, str) and benchmark and len(benchmark) <= 1024
        assert isinstance(measures, dict) and measures
        for measure, metric in measures.items():
            assert SLUG.match(measure)
            assert isinstance(metric, dict) and "value" in metric
            assert set(metric) <= {"value", "lower_value", "upper_value"}
            assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in metric.values())


def session() -> Session:
    decode = Metric("decode_tps", "tok/s", 81.25, 79.5, 83.125, 24, True, 0.02, "converged")
    ttft = Metric("ttft_ms", "ms", 12.5, 12.0, 13.75, 24, False, 0.03, "converged")
    weights = Metric.exact("weights_gb", "GB", 0.474, higher_is_better=False)
    results = [CaseResult("default", "eager", "generate-bs1", "nf4", "float16",
                          {"decode_tps": decode, "ttft_ms": ttft, "weights_gb": weights}),
               CaseResult("default", "eager", "prefill-128", "fp16", "float16",
                          {"prefill_tps": Metric("prefill_tps", "tok/s", 9000.0, 8800.0, 9100.0,
                                                 30, True, 0.01, "converged")})]
    env = {"gpu": "NVIDIA H100 80GB HBM3", "model_source": "synthetic:qwen2.5-0.5b-instruct",
           "date": "2026-11-25T21:33:54+00:00", "commit": "9cfece6"}
    return Session(env, {"name": "default"}, results, partial=False)


def test_both_formats_validate_and_round_trip(tmp_path: Path) -> None:
    s = session()
    lines = write_exports(parse_exports([f"bencher={tmp_path / 'bmf.json'}",
                                         f"github-action-benchmark={tmp_path / 'gab.json'}"]),
                          [session_run(s)])
    assert len(lines) == 3
    bmf = json.loads((tmp_path / "bmf.json").read_text())
    check_bmf(bmf)
    bigger = json.loads((tmp_path / "gab-bigger-is-better.json").read_text())
    smaller = json.loads((tmp_path / "gab-smaller-is-better.json").read_text())
    check_gab(bigger)
    check_gab(smaller)
    prefix = "nvidia-h100-80gb-hbm3/synthetic-qwen2.5-0.5b-instruct"
    for result in s.results:
        for name, m in result.metrics.items():
            bench = f"{prefix}/{result.case_key}/{result.method}"
            assert bmf[bench][name.replace("_", "-")] == {
                "value": m.median, "lower_value": m.low, "upper_value": m.high}
            entries = {e["name"]: e for e in (bigger if m.higher_is_better else smaller)}
            entry = entries[f"{bench}/{name}"]
            assert (entry["value"], entry["unit"]) == (m.median, m.unit)
            low, high = re.search(r"95% interval (\S+) \.\. (\S+)", entry["extra"]).groups()
            assert (float(low), float(high)) == (m.low, m.high)
            assert entry["range"] == f"± {max(m.median - m.low, m.high - m.median):.4g}"
            assert "commit 9cfece6" in entry["extra"]
    assert {e["name"].rsplit("/", 1)[1] for e in bigger} == {"decode_tps", "prefill_tps"}
    assert {e["name"].rsplit("/", 1)[1] for e in smaller} == {"ttft_ms", "weights_gb"}


def test_a_direction_without_metrics_gets_no_file_and_a_stale_one_goes(tmp_path: Path) -> None:
    s = session()
    s.results = [s.results[1]]  # prefill_tps only: bigger is better
    stale = gab_paths(tmp_path / "gab.json")[False]
    stale.write_text("[]")
    lines = write_exports([("github-action-benchmark", tmp_path / "gab.json")], [session_run(s)])
    assert lines[1] == f"export (github-action-benchmark, customSmallerIsBetter): no metric, {stale} not written"
    assert not stale.exists()


def test_the_gate_exports_its_session_and_reports_a_failed_write(tmp_path: Path) -> None:
    written = export_session([("bencher", tmp_path / "out" / "bmf.json")], session())
    assert written.code is None and written.said == [f"export (bencher): {tmp_path / 'out' / 'bmf.json'}"]
    (tmp_path / "file").write_text("")
    failed = export_session([("bencher", tmp_path / "file" / "bmf.json")], session())
    assert failed.lines == () and failed.code == 4
    assert failed.said == [failed.unwritten] and failed.unwritten.startswith("export not written: ")
    assert failed.why == failed.unwritten  # the closing label names it whole


def test_the_option_and_the_table_key() -> None:
    flags = {"exports": "--qb-export"}
    settings = build_settings({"exports": ["bencher=a.json"]},
                              {"exports": ["github-action-benchmark=b.json", "bencher=c.json"]}, flags)
    assert settings.exports == (("github-action-benchmark", Path("b.json")), ("bencher", Path("c.json")))
    assert build_settings({"exports": ["bencher=a.json"]}, {}).exports == (("bencher", Path("a.json")),)
    assert build_settings({}, {}).exports == ()


@pytest.mark.parametrize("table, overrides, reason", [
    ({}, {"exports": ["grafana=x.json"]}, "--qb-export: unknown export format 'grafana'; known: "
                                          "github-action-benchmark, bencher"),
    ({}, {"exports": ["bencher"]}, "--qb-export: expected FORMAT=FILE with FORMAT one of "
                                   "github-action-benchmark, bencher, got 'bencher'"),
    ({"exports": [1]}, {}, "pyproject.toml [tool.quantbench] exports: expected a list of FORMAT=FILE "
                           "strings, got [1]"),
])
def test_bad_exports_are_one_line_settings_errors(table, overrides, reason) -> None:
    with pytest.raises(SettingsError) as info:
        build_settings(table, overrides, {"exports": "--qb-export"})
    assert str(info.value) == reason
