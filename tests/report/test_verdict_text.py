"""A failure that explains itself in ten seconds (issue 19, item 6): one line per failing (case,
method) with its figure before → after in raw direction, its tolerance and what moved; failing
rows only by default; every line within 120 columns; a plain last line; "nothing was compared"
said as such; unconfirmed wall-clock moves shown as worth a look, not failing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from quantbench import catalog
from quantbench.config import SCENARIOS, Settings
from quantbench.judge import gate
from quantbench.judge.findings import Compared
from quantbench.store.baseline import Baseline
from quantbench.judge.compare import (
    PASS, REGRESSION, UNCONFIRMED, Comparison, Row, compare,
)
from quantbench.judge.diagnose import diagnose
from quantbench.judge.reasons import Judged, LostMethod, LostMethodNote, QualityVerdict, Rule
from quantbench.report.what_moved import (change_text, confirm_hint, figure, line, moved, terminal_hint,
                                          unconfirmed_lines, what_moved)
from quantbench.report.publish import markdown_summary, publish
from quantbench.report.reasons import row_dict
from quantbench.report.verdicts import terminal_lines, verdict_table
from quantbench.results import CaseResult, Metric
from quantbench.report.gate_lines import cause_text, context_lines, not_compared_text, outcome_line

GPU = "NVIDIA H200"
SOURCE = "synthetic:qwen2.5-0.5b-instruct"
CASE = "eager/generate-bs1"
WALL_MOVE = Judged(Rule.YOUNG_WORSE, 1.0, 1.5, -0.5, 0.1)  # a wall-clock row of a young baseline


def sampled(name: str, median: float, rel: float, *, hib: bool = True, unit: str = "tok/s") -> Metric:
    half = median * rel
    return Metric(name, unit, median, median - half, median + half, 30, hib, rel, "converged")


def exact(name: str, value: float, unit: str) -> Metric:
    return Metric.exact(name, unit, value, higher_is_better=False)


def device(value: float) -> Metric:
    return Metric("decode_kernel_us", "us/token", value, value * 0.999, value * 1.001, 3, False,
                  None, "fixed")


def metrics(tps: float, p90: float, kernel_us: float, kernels: float, py_calls: float,
            syncs: float = 0.0) -> list[Metric]:
    return [sampled("decode_tps", tps, 0.02), sampled("e2e_tps", tps * 0.98, 0.02),
            sampled("token_p90_ms", p90, 0.01, hib=False, unit="ms"), device(kernel_us),
            exact("decode_kernels", kernels, "kernels/token"),
            exact("decode_py_calls", py_calls, "calls/token"),
            exact("decode_syncs", syncs, "syncs/token"), exact("weights_gb", 0.988, "GB"),
            sampled("roofline_pct", 2.1, 0.02, unit="%")]


BEFORE = {"fp16": metrics(70.2, 16.9, 2341.2, 1029.34, 2719, 1),
          "nf4": metrics(42.1, 24.9, 2321.0, 1031.0, 5575, 1),
          "int8": metrics(15.4, 71.2, 4340.0, 2039.0, 13879, 1)}
AFTER = {"fp16": metrics(54.5, 32.8, 2341.5, 1029.34, 2719, 1),  # only the wall clock
         "nf4": metrics(40.0, 25.0, 2770.0, 1173.34, 5575, 1),  # GPU work
         "int8": metrics(13.0, 80.0, 4341.0, 2039.0, 13879, 2)}  # host work: one more sync


def result(method: str, values: list[Metric], case: str = "generate-bs1") -> CaseResult:
    return CaseResult("default", "eager", case, method, "float16", {m.name: m for m in values})


@pytest.fixture(autouse=True)
def sync_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Synchronisations per token: a host-work count (issue 19, item 2), here if not yet in the
    catalog."""
    if "decode_syncs" not in catalog.SPECS:
        monkeypatch.setitem(catalog.SPECS, "decode_syncs", catalog.MetricSpec(
            "decode_syncs", "syncs/token", False, "count", "Syncs/token", "host"))


@pytest.fixture
def failing() -> Comparison:
    baseline = Baseline(GPU, SOURCE, SCENARIOS["default"].to_dict(),
                        {CASE: {m: {x.name: x for x in v} for m, v in BEFORE.items()}}, {},
                        {"kind": "measured", "sessions": 5})  # calibrated: wall rows gate
    return compare(baseline, [result(m, v) for m, v in AFTER.items()], Settings())


def test_raw_direction_reads_as_it_moved() -> None:
    assert change_text(16.9, 32.8, higher_is_better=False) == "1.94× worse"
    assert change_text(70.2, 54.5, higher_is_better=True) == "1.29× worse"
    assert change_text(70.2, 72.0, higher_is_better=True) == "2.6% better"
    assert change_text(2341.2, 2434.8, higher_is_better=False) == "4.0% worse"
    assert change_text(675, 682, higher_is_better=False) == "1.0% worse"
    assert change_text(0, 1, higher_is_better=False) == "worse"
    assert change_text(5, 5, higher_is_better=False) == "unchanged"


def test_one_line_per_failing_case_and_method_says_what_moved(failing: Comparison) -> None:
    assert what_moved(failing.rows) == [
        "FAIL eager/generate-bs1 fp16 — only the wall clock: token_p90_ms 16.9 → 32.8 ms, 1.94× worse, "
        "tolerance 10% (+2 more)",
        "FAIL eager/generate-bs1 int8 — host work: decode_syncs 1 → 2 syncs/token, 2.00× worse, "
        "tolerance 0.5% (+3 more)",
        "FAIL eager/generate-bs1 nf4 — GPU work: decode_kernel_us 2,321 → 2,770 us/token, 1.19× worse, "
        "tolerance 3% (+1 more)",
    ]


def test_counts_read_exactly(failing: Comparison) -> None:
    (nf4,) = [d for d in diagnose(failing.rows) if d.method == "nf4"]
    kernels = next(r for r in nf4.rows if r.metric == "decode_kernels")
    assert figure(kernels) == "decode_kernels 1,031 → 1,173.34 kernels/token, 1.14× worse, tolerance 0.5%"


def test_a_line_too_long_drops_its_count_then_its_tolerance_never_past_120(failing: Comparison) -> None:
    (nf4,) = [d for d in diagnose(failing.rows) if d.method == "nf4"]
    long = replace(nf4, case_key="eager/prefill-1024", method="int4wo")
    assert line(long).endswith("1.19× worse, tolerance 3% (+1 more)") and len(line(long)) == 119
    longer = replace(long, case_key="compiled/prefill-1024")
    assert line(longer).endswith("1.19× worse, tolerance 3%") and len(line(longer)) == 112
    longest = replace(long, case_key="compiled/prefill-1024-and-a-good-deal-more")
    assert line(longest).endswith("1.19× worse") and len(line(longest)) <= 120
    assert len(line(replace(long, case_key="x" * 200))) == 120


def test_terminal_shows_only_failing_rows_within_120_columns(failing: Comparison) -> None:
    lines = terminal_lines(failing)
    assert max(map(len, lines)) <= 120, max(lines, key=len)
    table = verdict_table([r for r in failing.rows if r.verdict == REGRESSION]).splitlines()
    assert table[0].split() == ["metric", "unit", "before", "after", "change", "tolerance", "verdict"]
    assert lines[:len(table)] == table
    assert "roofline_pct" not in "\n".join(lines)  # info rows never in the default view
    assert not any(" pass" in line_ for line_ in table)
    assert any(line_.startswith("  token_p90_ms") and "1.94× worse" in line_ for line_ in table)
    assert "15 other verdict(s) not shown (pass): --qb-all-verdicts shows every row" in lines
    everything = terminal_lines(failing, show_all=True)
    assert "roofline_pct" in "\n".join(everything) and max(map(len, everything)) <= 120


def test_a_long_note_is_cut_at_120_columns(failing: Comparison) -> None:
    # a lost method's reason is a whole exception line (its full text is in the session's lines)
    why = ("nf4 failed in test_generate[nf4-bs1-eager]: RuntimeError: Attempted to unset UNKNOWN_MODE, "
           "but there wasn't one active")
    note = f"lost: nf4 ran in the baseline and cannot run now ({why})"
    lost = LostMethodNote("nf4", LostMethod(failure=why))
    lines = terminal_lines(replace(failing, notes=(*failing.notes, lost)))
    assert max(map(len, lines)) <= 120
    assert note[:119] + "…" in lines

def _session(results: list[CaseResult]) -> SimpleNamespace:
    return SimpleNamespace(results=results, environment={}, gpu=GPU, model_source=SOURCE)


def test_the_last_block_ends_in_one_line_per_failure_then_a_short_outcome(
        failing: Comparison, tmp_path: Path) -> None:
    verdict = gate.Verdict(failing, 1, Compared(Path("baselines/x.json"), "measured", "undated"))
    lines = publish(verdict, _session([result(m, v) for m, v in AFTER.items()]), tmp_path,
                    before_outcome=["baseline not updated: the session's quality verdicts failed"]).lines
    assert lines[-1] == "gate: FAIL: fp16, int8, nf4 (9 regressions)"
    assert lines[-5:-2] == what_moved(failing.rows)
    assert max(map(len, lines[-15:])) <= 120
    summary = (tmp_path / "summary.md").read_text()
    head = summary.split("<details>")[0]
    assert "❌ **FAIL: 9 failing row(s)**" in head
    assert all(f"- {text}" in head for text in what_moved(failing.rows))
    assert "| roofline_pct |" not in head and "| roofline_pct |" in summary.split("<details>")[1]


def test_unconfirmed_wall_clock_moves_are_worth_a_look_not_a_failure(failing: Comparison) -> None:
    rows = tuple(replace(r, verdict=UNCONFIRMED, reason=replace(r.reason, rule=Rule.YOUNG_WORSE))
                 if r.method == "fp16" and r.verdict == REGRESSION else r for r in failing.rows)
    comparison = replace(failing, rows=rows)
    assert [d.method for d in diagnose(rows)] == ["int8", "nf4"]
    assert unconfirmed_lines(rows) == [
        "unconfirmed eager/generate-bs1 fp16 — only the wall clock: token_p90_ms 16.9 → 32.8 ms, "
        "1.94× worse, tolerance 10%"]  # 124 columns with "(+2 more)"
    why = "not failing: too few baseline sessions to know this GPU's wall-clock spread (gated from 3); to confirm on one host:"
    command = ("python -m quantbench ab --base OLD/bin/python --head NEW/bin/python -- "
               "--qb-methods fp16 --qb-modes eager -k 'generate and bs1'")
    assert confirm_hint(rows) == (why, command) and confirm_hint(failing.rows) is None
    assert terminal_hint(rows) == [
        f"  {why}", "  python -m quantbench ab --base OLD/bin/python --head NEW/bin/python -- \\",
        "    --qb-methods fp16 --qb-modes eager -k 'generate and bs1'"]
    lines = terminal_lines(comparison)
    # the failures last, where a reader in a hurry looks; every line within 120 columns
    assert lines[-2:] == what_moved(rows) and lines[-6:-2] == unconfirmed_lines(rows) + terminal_hint(rows)
    assert [text for text in lines if len(text) > 120] == []
    assert outcome_line(comparison) == "gate: FAIL: int8, nf4 (6 regressions; 3 unconfirmed, not failing)"
    clean = replace(comparison, rows=tuple(r for r in rows if r.method == "fp16"))
    assert clean.exit_ok and outcome_line(clean) == "gate: pass (3 unconfirmed, not failing)"
    assert f"{why}\n\n```\n{command}\n```" in markdown_summary(comparison, [], "t")


def test_the_confirming_command_of_many_cases_wraps_before_its_selection() -> None:
    # Lease H's GPU-work session: four cases in one -k made a 142-column line.
    rows = [Row(key, method, "token_p50_ms", "ms", None, None, -0.5, 0.1, UNCONFIRMED, WALL_MOVE)
            for key in ("eager/generate-bs1", "eager/generate-bs8", "eager/prefill-1024", "eager/prefill-128")
            for method in ("awq", "bf16", "int8")]
    hint = terminal_hint(rows)
    assert hint[-2:] == ["    --qb-methods awq,bf16,int8 --qb-modes eager \\",
                         "    -k '(generate and bs1) or (generate and bs8) or (prefill and len1024) or "
                         "(prefill and len128)'"]
    assert max(map(len, hint)) <= 120
    assert " ".join(x.strip().rstrip("\\").strip() for x in hint[1:]) == confirm_hint(rows)[1]  # still pasteable


def test_pass_and_quality_only_outcomes_are_short() -> None:
    quality = Row("eager/quality", "nf4", "kl_divergence", "nats", None,
                  Metric.exact("kl_divergence", "nats", 1e-3, higher_is_better=False), None, None,
                  "quality fail", QualityVerdict("nf4", "kl_divergence", 1e-3, 1e-12, False), threshold=1e-12)
    comparison = Comparison((quality,))
    assert outcome_line(comparison) == "gate: FAIL: nf4 (1 quality failure)"
    assert what_moved([quality]) == [
        "FAIL eager/quality nf4 — quality: KL divergence 0.001 > 0.000 nats"]
    assert outcome_line(Comparison((replace(quality, verdict=PASS),))) == "gate: pass"


def test_summary_says_plainly_when_nothing_was_compared(tmp_path: Path) -> None:
    quality = Row("eager/quality", "nf4", "kl_divergence", "nats", None,
                  Metric.exact("kl_divergence", "nats", 1e-3, higher_is_better=False), None, None,
                  PASS, QualityVerdict("nf4", "kl_divergence", 1e-3, 0.5, True))
    text = markdown_summary(Comparison((quality,)), [], "t", "--benchmark-compare was not given")
    assert "**Nothing was compared with a baseline**: --benchmark-compare was not given." in text
    assert "no regressions" not in text
    assert "**Nothing was compared**" in markdown_summary(None, [], "t", "no baseline for cpu")


def test_the_gate_says_why_nothing_was_compared(tmp_path: Path) -> None:
    session = SimpleNamespace(results=[], skipped={}, synthetic=True, gpu="cpu",
                              model_source="synthetic:qwen2-tiny", scenario={}, environment={})
    assert not_compared_text(gate.judge_session(session, Settings())) == (
        "--benchmark-compare was not given: quality thresholds only")
    allowed = Settings(compare=True, allow_missing_baseline=True, baseline_dir=tmp_path)
    verdict = gate.judge_session(session, allowed)
    assert verdict.code == 0 and not_compared_text(verdict).startswith("no baseline for cpu")


def test_why_nothing_was_compared_is_the_reason_the_gate_gave_not_its_printed_line(tmp_path: Path) -> None:
    session = SimpleNamespace(results=[], skipped={}, synthetic=True, gpu="cpu",
                              model_source="synthetic:qwen2-tiny", scenario={}, environment={})
    (tmp_path / "a-file").write_text("")
    verdict = gate.judge_session(session, Settings(compare=True, baseline_dir=tmp_path / "a-file" / "b"))
    why = f"baseline dir {tmp_path / 'a-file'} is a file, not a folder: nothing compared"
    assert (verdict.code, not_compared_text(verdict), cause_text(verdict)) == (4, why, why)
    assert context_lines(verdict) == [f"quantbench: {why}"]


def test_a_tie_leads_with_the_catalogs_order() -> None:
    # The syncs plugin moves synchronisations and copies alike (2 -> 3 per token on an H200):
    # the line names the synchronisation, the cause, first.
    def row(metric: str) -> Row:
        before = Metric.exact(metric, "n/token", 2.0, higher_is_better=False)
        after = Metric.exact(metric, "n/token", 3.0, higher_is_better=False)
        return Row(CASE, "fp16", metric, "n/token", before, after, -0.5, 0.005, REGRESSION,
                   Judged(Rule.WORSE, 2.0, 3.0, -0.5, 0.005))

    (found,) = diagnose([row("decode_copies"), row("decode_syncs")])
    assert found.lead.metric == "decode_syncs" and moved(found) == "host work"


def test_a_quality_row_shows_its_threshold_not_a_baseline() -> None:
    """KL is judged against a threshold (0.5 nats), not a stored figure: no "before", no change,
    the limit in the tolerance column, and ``threshold`` in comparison.json."""
    from quantbench.judge.quality import quality_rows
    from quantbench.report.digest import digest
    from quantbench.report.verdicts import cells, markdown_table

    metrics = {"kl_divergence": Metric.exact("kl_divergence", "nats", 0.62, higher_is_better=False),
               "top1_agreement": Metric.exact("top1_agreement", "fraction", 0.9, higher_is_better=True)}
    case = CaseResult("default", "eager", "quality", "nf4", "nf4 weights", metrics)
    rows = {r.metric: r for r in quality_rows([case], Settings(), synthetic=False)}
    kl, top1 = rows["kl_divergence"], rows["top1_agreement"]
    assert (kl.baseline, kl.threshold, kl.verdict) == (None, 0.5, "quality fail")
    assert cells(kl) == ["kl_divergence", "nats", "-", "0.620", "-", "max 0.500", "quality fail"]
    assert cells(top1)[2:] == ["-", "0.900", "-", "min 0.600", "pass"]
    assert row_dict(kl)["threshold"] == 0.5 and row_dict(kl)["baseline"] is None
    assert "| nf4 | kl_divergence | nats | - | 0.620 | - | max 0.500 | quality fail |" in markdown_table([kl])
    assert "| eager/quality | nf4 | kl_divergence | - → 0.620 nats | - | max 0.500 | quality fail |" in digest(
        Comparison((kl, top1)), "t")
    assert what_moved([kl]) == ["FAIL eager/quality nf4 — quality: KL divergence 0.62 > 0.50 nats"]
