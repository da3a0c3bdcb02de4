"""``python -m quantbench ab``: the orchestration with a fake runner, then one real A/B on the CPU.

The fake runner stands in for ``PYTHON -m pytest benches``: it records each call and writes the
session file the run would leave in its ``--qb-report-dir``. The real A/B runs the tiny synthetic
model with head slowed 4x by the test-only slowdown plugin, over three pairs: with two, Student's
t is 12.7 and the two pairs' log ratios must agree within 0.22 for the interval to exclude 0; on
a shared 2-core machine the sleep-based slowdown's size moved more than that between processes
(decode 4.7x vs 6.1x), so two pairs read "within noise" in 2 of 3 tries; three pairs (t = 4.3)
caught it.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from quantbench.commands import cli
from quantbench.commands.ab import bench_command, main, schedule, Side
from quantbench.results import CaseResult, Metric
from fakes import PYTEST_ARGS, FakeAbRunner, ab, metric

ROOT = Path(__file__).resolve().parents[2]
def verdicts(tmp_path: Path) -> dict[str, str]:
    data = json.loads((tmp_path / "ab" / "comparison.json").read_text())
    return {r["metric"]: r["verdict"] for r in data["comparison"]["rows"]}


def test_runs_alternate_base_and_head_each_in_its_own_folder(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "step-summary.md"))
    runner = FakeAbRunner({"base": [100, 102, 98], "head": [100, 102, 98]})
    assert ab(tmp_path, runner) == 0
    assert [(s, i) for s, i, *_ in runner.calls] == schedule(3) == [
        ("base", 1), ("head", 1), ("base", 2), ("head", 2), ("base", 3), ("head", 3)]
    side, pair, argv, cwd, env = runner.calls[1]
    out = tmp_path / "ab"
    assert argv == ["/envs/head/python", "-m", "pytest", "benches", *PYTEST_ARGS, "-p",
                    "quantbench.testing.slowdown", "--qb-slowdown", "0.25",
                    "--qb-report-dir", str(out / "head-1"), "--benchmark-disable"]
    assert runner.calls[0][2][:4] == ["/envs/base/python", "-m", "pytest", "benches"]
    assert "--qb-slowdown" not in runner.calls[0][2]
    assert runner.calls[0][3] == tmp_path / "base-src" and cwd == tmp_path / "head-src"
    assert "GITHUB_STEP_SUMMARY" not in env  # children must not write the job's summary
    assert verdicts(tmp_path) == {"decode_tps": "pass"}
    assert {p.name for p in out.iterdir()} >= {"summary.md", "comparison.json", "base-1", "head-3"}
    assert "quantbench A/B" in (tmp_path / "step-summary.md").read_text()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("quantbench ab: base 1/3: exit 0, 1 case(s), ")
    assert lines[-1] == "ab: pass (0 improvement(s))"


def test_a_consistent_slowdown_fails_with_exit_1(tmp_path, capsys) -> None:
    runner = FakeAbRunner({"base": [100, 102, 98], "head": [100 / 1.2, 102 / 1.25, 98 / 1.3]})
    assert ab(tmp_path, runner) == 1
    assert verdicts(tmp_path) == {"decode_tps": "regression"}
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == (
        "ab: FAIL, 1 regression(s) or quality failure(s): eager/generate-bs1 fp16 decode_tps")
    assert "95% CI -27.5% .. -11.6%" in (tmp_path / "ab" / "summary.md").read_text()


def test_a_run_that_fails_stops_the_ab_with_one_line_and_exit_4(tmp_path, capsys) -> None:
    runner = FakeAbRunner({"base": [100] * 3, "head": [100] * 3}, codes={("head", 2): 3})
    assert ab(tmp_path, runner) == 4
    assert len(runner.calls) == 4  # base 1, head 1, base 2, head 2: nothing after the failure
    log = tmp_path / "ab" / "head-2" / "pytest.log"
    assert capsys.readouterr().err == f"quantbench ab: head run 2 failed with exit 3; its output: {log}\n"
    assert not (tmp_path / "ab" / "summary.md").exists()


def test_a_run_without_a_session_file_is_unusable_even_with_a_stale_one_there(tmp_path, capsys) -> None:
    stale = tmp_path / "ab" / "base-1" / "session.json"
    FakeAbRunner({"base": [1.0], "head": [1.0]})(["py", "--qb-report-dir", str(stale.parent)],
                                              tmp_path, {}, tmp_path / "x.log")
    assert stale.is_file()
    runner = FakeAbRunner({"base": [100] * 3, "head": [100] * 3}, no_file=(("base", 1),))
    assert ab(tmp_path, runner) == 4
    err = capsys.readouterr().err
    assert err.startswith(f"quantbench ab: base run 1 (exit 0): no session file at {stale}; ")
    assert len(runner.calls) == 1


def test_a_partial_session_is_unusable(tmp_path, capsys) -> None:
    runner = FakeAbRunner({"base": [100] * 3, "head": [100] * 3}, partial=(("head", 1),))
    assert ab(tmp_path, runner) == 4
    assert capsys.readouterr().err.startswith("quantbench ab: head run 1 did not finish")


def test_exit_1_with_a_finished_session_is_judged_and_noted(tmp_path, capsys) -> None:
    runner = FakeAbRunner({"base": [100] * 3, "head": [100] * 3}, codes={("head", 3): 1})
    assert ab(tmp_path, runner) == 0
    log = tmp_path / "ab" / "head-3" / "pytest.log"
    assert f"head run 3 exited 1 (a bench or its quality gate failed): {log}" in capsys.readouterr().out


def test_head_quality_past_its_threshold_fails_the_ab(tmp_path, capsys) -> None:
    kl = Metric.exact("kl_divergence", "nats", 0.9, higher_is_better=False)
    broken = CaseResult("default", "eager", "quality", "int8", "int8", {"kl_divergence": kl})
    runner = FakeAbRunner({"base": [100] * 2, "head": [100] * 2}, extra={"head": [broken]})
    assert ab(tmp_path, runner, pairs=2) == 1
    assert verdicts(tmp_path) == {"decode_tps": "pass", "kl_divergence": "quality fail"}
    assert capsys.readouterr().out.splitlines()[-1] == (
        "ab: FAIL, 1 regression(s) or quality failure(s): eager/quality int8 kl_divergence")


def test_sessions_of_another_gpu_are_not_compared(tmp_path, capsys) -> None:
    runner = FakeAbRunner({"base": [100] * 2, "head": [100] * 2}, gpu={"head": "NVIDIA H100"})
    assert ab(tmp_path, runner, pairs=2) == 4
    assert capsys.readouterr().err == (
        "quantbench ab: head run 1 measured gpu 'NVIDIA H100', base run 1 'cpu'\n")


def test_a_tolerance_option_reaches_the_verdicts(tmp_path) -> None:
    runner = FakeAbRunner({"base": [100, 102, 98], "head": [100 / 1.2, 102 / 1.25, 98 / 1.3]})
    assert ab(tmp_path, runner, "--tolerance", "decode_tps=0.25") == 0
    assert verdicts(tmp_path) == {"decode_tps": "pass"}


def test_one_pair_is_refused_and_cli_dispatches_ab(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["ab", "--base", "a", "--head", "b", "--pairs", "1"])
    assert exc.value.code == 4  # quantbench.exits.USAGE, as pytest's usage error
    assert "--pairs must be at least 2" in capsys.readouterr().err


def report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "ab" / "comparison.json").read_text())


def test_auto_adds_pairs_one_at_a_time_until_the_interval_is_within_tolerance(tmp_path, capsys) -> None:
    # decode log ratios 0.1, -0.1, 0, 0, 0, ...; two watched metrics (decode tok/s, TTFT), so each is
    # held to 5 %/2 two-sided (Holm's first step): the half-width t(K-1, 0.9875) * s / sqrt(K) is
    # 3.495 * 0.0707 / sqrt(5) = 0.1105 after 5 pairs and 3.163 * 0.0632 / sqrt(6) = 0.0817 after 6,
    # the first within log(1.1) = 0.0953. TTFT holds exactly and the kernel counter is judged pair
    # by pair: neither needs more pairs.
    head = [100 * math.exp(r) for r in (0.1, -0.1, 0, 0, 0, 0, 0, 0, 0, 0)]
    runner = FakeAbRunner({"base": [100.0] * 10, "head": head}, ttft={"base": [20.0] * 10, "head": [20.0] * 10})
    assert ab(tmp_path, runner, pairs="auto") == 0
    assert [(s, i) for s, i, *_ in runner.calls] == schedule(6)
    out = capsys.readouterr().out
    assert "quantbench ab: base 1/≤10: exit 0" in out
    assert re.findall(r"after (\d) pairs, 1 metric\(s\) wider than their tolerance at 5%/2: fp16 decode_tps ±", out) == [
        "3", "4", "5"]
    note = "pairs auto: stopped after 6 pairs: every watched metric's interval at 5%/2 is within its tolerance (2 metric(s))"
    assert note in out.splitlines() and f"- {note}" in (tmp_path / "ab" / "summary.md").read_text()
    env = report(tmp_path)["environment"]
    assert (env["pairs"], env["pairs_asked"]) == (6, "auto, 3 to 10")
    powers = {p["metric"]: p for p in env["power"]}
    assert set(powers) == {"decode_tps", "ttft_ms"}  # not the counter
    assert powers["decode_tps"]["halfwidth"] == pytest.approx(math.expm1(0.0816782), abs=1e-6)
    assert powers["decode_tps"]["alpha"] == 0.025
    assert powers["decode_tps"]["within_tolerance"] and powers["ttft_ms"]["halfwidth"] == 0.0


def test_auto_stops_at_the_maximum_and_names_the_metric_still_too_noisy(tmp_path, capsys) -> None:
    ttft = {"base": [20.0] * 4, "head": [24.0, 20 / 1.2, 24.0, 20 / 1.2]}  # ±18 % either way
    runner = FakeAbRunner({"base": [100.0] * 4, "head": [100.0] * 4}, ttft=ttft)
    assert ab(tmp_path, runner, "--max-pairs", "4", pairs="auto") == 0
    assert len(runner.calls) == 8
    power = next(p for p in report(tmp_path)["environment"]["power"] if p["metric"] == "ttft_ms")
    assert not power["within_tolerance"] and power["pairs"] == 4
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("pairs auto: the maximum (--max-pairs 4) stopped it; 1 metric(s) still wider than "
                        "their tolerance:")
    assert lines[start + 1] == (f"  eager/generate-bs1 fp16 ttft_ms: CI ±{power['halfwidth']:.1%} at 5%/2, "
                                f"MDE {power['mde']:.1%}, tolerance ±10%")
    table = [[cell.strip() for cell in line.split("|")] for line in lines if "WIDER" in line]
    assert table == [["eager/generate-bs1", "fp16", "ttft_ms", f"±{power['halfwidth']:.1%}",
                      f"{power['mde']:.1%}", "±10%", "WIDER than tolerance"]]
    assert all(len(line) <= 120 for line in lines if not line.startswith(("reports: ", "reports in ")))


def test_the_mde_printed_is_the_paired_formula(tmp_path, capsys) -> None:
    # Three pairs, 25 % slowdown (time x 1.2, 1.25, 1.3). Student's t with 2 degrees of freedom
    # in closed form, t_p = (2p - 1) / sqrt(2p(1 - p)): MDE = exp((t.975 + t.80) * s / sqrt(3)) - 1.
    ratios = [math.log(1 / f) for f in (1.2, 1.25, 1.3)]
    t975, t80 = 0.95 / math.sqrt(2 * 0.975 * 0.025), 0.6 / math.sqrt(2 * 0.8 * 0.2)
    mde = math.expm1((t975 + t80) * statistics.stdev(ratios) / math.sqrt(3))
    assert mde == pytest.approx(0.13194, abs=1e-5)
    runner = FakeAbRunner({"base": [100, 102, 98], "head": [100 / 1.2, 102 / 1.25, 98 / 1.3]})
    assert ab(tmp_path, runner) == 1
    (power,) = report(tmp_path)["environment"]["power"]
    assert power["mde"] == pytest.approx(mde)
    out = capsys.readouterr().out
    assert ("smallest detectable change after 3 pairs (CI and 80%-power MDE at 5%/1: Holm "
            "over 1 tests; counters exact):") in out
    assert re.search(r"eager/generate-bs1 \| fp16 +\| decode_tps \| ±10.5% +\| 13.2% \| ±10% ", out)
    assert "95% CI -27.5% .. -11.6%, MDE 13.2%: worse" in (tmp_path / "ab" / "summary.md").read_text()


def test_auto_passes_identical_sides_in_three_pairs_and_fails_a_25_percent_slowdown(tmp_path, capsys) -> None:
    same = FakeAbRunner({"base": [100.0, 102.0, 98.0] * 4, "head": [100.0, 102.0, 98.0] * 4})
    assert ab(tmp_path, same, pairs="auto") == 0
    assert len(same.calls) == 6 and verdicts(tmp_path) == {"decode_tps": "pass"}
    slow = FakeAbRunner({"base": [100.0] * 10, "head": [100 / 1.24, 100 / 1.25, 100 / 1.26] * 4})
    assert ab(tmp_path, slow, pairs="auto") == 1
    assert len(slow.calls) == 6 and verdicts(tmp_path) == {"decode_tps": "regression"}
    assert capsys.readouterr().out.splitlines()[-1].startswith("ab: FAIL, 1 regression(s)")


@pytest.mark.parametrize(("args", "error"), [
    (["--pairs", "many"], "not a number of pairs or 'auto': 'many'"),
    (["--pairs", "4", "--max-pairs", "8"], "--max-pairs goes with --pairs auto"),
    (["--pairs", "auto", "--max-pairs", "2"], "--max-pairs must be at least 3, not 2"),
])
def test_bad_pairs_options_are_refused(args, error, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--base", "a", "--head", "b", *args])
    assert exc.value.code == 4 and error in capsys.readouterr().err  # every usage error is 4 (exits)


def test_bench_command_puts_side_arguments_after_the_shared_ones() -> None:
    side = Side("base", "py", ("-x",), Path("/src"))
    assert bench_command(side, Path("/out/base-1"), ["-k", "a"]) == [
        "py", "-m", "pytest", "benches", "-k", "a", "-x", "--qb-report-dir", "/out/base-1",
        "--benchmark-disable"]


@pytest.mark.session
def test_a_real_ab_on_the_cpu_catches_a_4x_slowdown(tmp_path) -> None:
    """Five pairs of real sessions on the tiny model, head about 4x slower: exit 1, decode regressed.

    Five, not three: after Holm over six paired tests, three pairs' interval reaches 6.3 standard
    deviations of the pair log ratios each side (Student's t on 2 degrees of freedom), five pairs'
    2.2. A busy CI box once spread three pairs so far that a 4x change read 'within noise'
    (CI run of 13074cb: interval +-1232 %).
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "GITHUB_STEP_SUMMARY"):
        env.pop(name, None)
    out = tmp_path / "ab"
    cmd = [sys.executable, "-m", "quantbench", "ab", "--base", sys.executable,
           "--head", sys.executable, "--pairs", "5", "--out", str(out),
           "--head-args", "-p quantbench.testing.slowdown --qb-slowdown 3.0", "--",
           "-k", "generate and bs1", "--qb-methods", "fp16", "--qb-time-budget", "0.3",
           "--qb-cache-dir", str(tmp_path / "cache"), "-p", "no:cacheprovider"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=480,
                          check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-4000:]
    rows = json.loads((out / "comparison.json").read_text())["comparison"]["rows"]
    decode = [r for r in rows if r["metric"] == "decode_tps"]
    assert len(decode) == 1 and decode[0]["verdict"] == "regression", output[-4000:]
    assert decode[0]["change"] < -0.5  # about -75 %
    assert re.search(r": worse than ±10%, p = [0-9.e-]+ after Holm over \d+ tests$", decode[0]["reason"])
    assert sorted(p.name for p in out.glob("*-?")) == [f"{side}-{i}" for side in ("base", "head")
                                                      for i in range(1, 6)]
