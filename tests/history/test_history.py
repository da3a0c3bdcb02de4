"""``python -m quantbench history`` on a fake history: a planted step and a planted slow drift are
found, the page and its charts are written, and every unusable input is one line and exit 4."""

from __future__ import annotations

import re

import json
from pathlib import Path

import numpy as np
import pytest

from quantbench.commands.history import main
from quantbench.store.baseline import BaselineError, baseline_from_results, baseline_path, load_baseline, to_json
from quantbench.results import CaseResult, Metric
from quantbench.history.series import HistoryError, collect, read_baseline
from quantbench.session import Session

pytest.importorskip("ruptures")
pytest.importorskip("matplotlib")

GPU, MODEL = "NVIDIA H100 80GB HBM3", "synthetic:qwen2.5-0.5b-instruct"
SCENARIO = {"name": "default", "prompt_tokens": 64, "new_tokens": 128, "batch_sizes": [1, 8],
            "prefill_lengths": [128, 1024], "greedy": True}
N = 14


def sampled(name: str, median: float, unit: str, hib: bool) -> Metric:
    return Metric(name, unit, median, median * 0.995, median * 1.005, 20, hib, 0.01, "converged")


def results(decode: float, kernel: float, weights: float = 1.0) -> list[CaseResult]:
    metrics = {"decode_tps": sampled("decode_tps", decode, "tok/s", True),
               "decode_kernel_us": sampled("decode_kernel_us", kernel, "us/token", False),
               "weights_gb": Metric.exact("weights_gb", "GB", weights, higher_is_better=False)}
    return [CaseResult("default", "eager", "generate-bs1", "nf4", "float16", metrics)]


def environment(i: int, torch: str = "2.11.0") -> dict:
    return {"gpu": GPU, "model_source": MODEL, "date": f"2026-11-{10 + i:02d}T12:00:00+00:00",
            "commit": f"c{i:06d}", "driver": "580.1", "versions": {"torch": torch}}


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A baseline and 14 sessions: decode_tps steps down 20 % at session 8 (under a torch
    upgrade); decode_kernel_us creeps 1 % worse per session (13 % over the window, past its 3 %
    tolerance, no step beyond it)."""
    rng = np.random.default_rng(1)
    paths = []
    for i in range(N):
        decode = 100 * (0.8 if i >= 8 else 1.0) * (1 + 0.01 * rng.standard_normal())
        kernel = 50 * (1 + 0.01 * i) * (1 + 0.001 * rng.standard_normal())
        session = Session(environment(i, "2.12.0" if i >= 8 else "2.11.0"), SCENARIO,
                          results(decode, kernel), partial=False)
        paths.append(tmp_path / "sessions" / f"s{i:02d}-session.json")
        session.write(paths[-1])
    baseline = baseline_from_results(results(100.0, 50.0), gpu=GPU, model_source=MODEL,
                                     scenario=SCENARIO, environment=environment(0),
                                     provenance={"kind": "measured"})
    path = baseline_path(tmp_path / "baselines", GPU, MODEL)
    path.parent.mkdir(parents=True)
    path.write_text(to_json(baseline))
    return tmp_path / "baselines", paths


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_step_and_the_drift_are_found_and_the_page_is_written(history, tmp_path, capsys) -> None:
    baselines, sessions = history
    out = tmp_path / "page"
    code, text, err = run(capsys, *map(str, sessions), "--baseline-dir", str(baselines),
                          "--out", str(out))
    assert code == 0, err
    lines = text.splitlines()
    assert lines[0] == "history: 1 GPU and model(s), 3 series"
    steps = [line for line in lines if line.startswith("step:")]
    # raw direction, as the gate's lines read: before → after, by how much, worse or better
    found = re.search(r"eager/generate-bs1 nf4 decode_tps ([\d.]+) → ([\d.]+) tok/s, 1\.2\d× worse at ", steps[0])
    assert len(steps) == 1 and found, steps
    assert float(found[1]) == pytest.approx(100, rel=0.02) and float(found[2]) == pytest.approx(80, rel=0.02)
    assert "at 11-18 12:00 c000008" in steps[0]
    # the fitted line's ends: 1 % a session over 14 sessions, 50 → ~56.5
    assert lines[-1].startswith(f"drift (worse): {GPU}: eager/generate-bs1 nf4 decode_kernel_us 50.0 → 56.5 "
                                "us/token, 1.13× worse over"), lines[-1]
    assert "over 14 sessions (tolerance ±3%)" in lines[-1]
    page = (out / "index.html").read_text()
    assert "http" not in page.replace("http://www.w3.org", "")  # nothing fetched: offline
    assert page.count("data:image/png;base64,") == 3  # wall clock, device, memory
    assert "torch 2.11.0→2.12.0" in page
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [f"nvidia-h100-80gb-hbm3-synthetic-qwen2.5-0.5b-instruct-eager-generate-bs1-{p}.png"
                    for p in ("device", "memory", "wall-clock")]


def test_fail_on_drift_exits_1(history, tmp_path, capsys) -> None:
    baselines, sessions = history
    args = [*map(str, sessions), "--baseline-dir", str(baselines), "--out", str(tmp_path / "p")]
    assert run(capsys, *args, "--fail-on-drift")[0] == 1
    assert run(capsys, *args, "--fail-on-drift", "--metric", "decode_tps")[0] == 0  # a step only


def test_a_baselines_session_list_adds_points_deduplicated_by_date(history, tmp_path) -> None:
    baselines, sessions = history
    path = next(baselines.glob("*/*.json"))
    data = json.loads(path.read_text())
    data["sessions"] = [
        {"date": environment(0)["date"], "commit": "c000000", "environment": environment(0),
         "results": {"eager/generate-bs1": {"nf4": {"decode_tps": 99.0}}}},  # s00's date: a twin
        {"date": "2026-11-01T12:00:00+00:00", "commit": "old", "environment": environment(-9),
         "results": {"eager/generate-bs1": {"nf4": {"decode_tps": 101.0}}}},
    ]
    path.write_text(json.dumps(data))
    groups, notes = collect(baselines, sessions)
    samples = groups[0].sessions
    assert len(samples) == N + 1 and notes == []
    assert samples[0].commit == "old" and samples[0].source.endswith("sessions[1]")
    assert samples[0].results[("eager/generate-bs1", "nf4")]["decode_tps"].median == 101.0
    assert samples[1].source == str(sessions[0])  # the file wins over the list's twin


def test_a_baselines_window_is_read_by_the_stores_one_parser(history) -> None:
    """The history reads a baseline's window as the gate does (``store.window.Entry``): the same
    refusal of a bad entry, and the same metrics (a count is exact) from a good one."""
    baselines, _ = history
    path = next(baselines.glob("*/*.json"))
    data = json.loads(path.read_text())
    good = {"date": environment(-9)["date"], "commit": "old", "environment": environment(-9),
            "results": {"eager/generate-bs1": {"nf4": {"decode_tps": 101.0, "decode_kernels": 1029.0}}}}
    data["sessions"] = [{**good, "results": {"eager/generate-bs1": {"nf4": {"decode_tps": "fast"}}}}]
    path.write_text(json.dumps(data))
    with pytest.raises(BaselineError) as gate_refusal:
        load_baseline(path)
    with pytest.raises(HistoryError) as history_refusal:
        read_baseline(path)
    assert str(history_refusal.value) == str(gate_refusal.value)
    data["sessions"] = [good]
    path.write_text(json.dumps(data))
    baseline, (sample,) = read_baseline(path)
    assert sample.results == baseline.sessions[0].metrics() == load_baseline(path).sessions[0].metrics()
    assert sample.results[("eager/generate-bs1", "nf4")]["decode_kernels"].stop == "exact"


def test_without_sessions_the_baseline_versions_are_the_points(history) -> None:
    baselines, _ = history
    current = next(baselines.glob("*/*.json"))
    (current.parent / "history").mkdir()
    (current.parent / "history" / f"{current.stem}.20261101T000000Z.json").write_text(current.read_text())
    groups, _ = collect(baselines, [])
    assert [s.kind for s in groups[0].samples] == ["baseline", "baseline"]
    assert groups[0].samples[-1].source == str(current)


def test_a_session_of_another_scenario_is_left_out_with_a_note(history, tmp_path) -> None:
    baselines, sessions = history
    other = Session(environment(20), {**SCENARIO, "new_tokens": 64}, results(100, 50), partial=False)
    other.write(tmp_path / "other.json")
    groups, notes = collect(baselines, [*sessions, tmp_path / "other.json", sessions[0]])
    assert len(groups[0].sessions) == N
    assert notes == [f"left out {tmp_path / 'other.json'}: baseline scenario differs in new_tokens: "
                     "baseline 128, run 64", f"left out {sessions[0]}: given twice"]


def test_without_a_baseline_sessions_must_match_the_first_sessions_scenario(history, tmp_path) -> None:
    _, sessions = history
    other = Session(environment(20), {**SCENARIO, "greedy": False}, results(100, 50), partial=False)
    other.write(tmp_path / "other.json")
    groups, notes = collect(None, [*sessions[:3], tmp_path / "other.json"])
    assert len(groups[0].sessions) == 3 and groups[0].baseline is None
    assert notes == [f"left out {tmp_path / 'other.json'}: baseline scenario differs in greedy: "
                     "baseline True, run False (no baseline: 'baseline' is the first session)"]


def bad(tmp_path: Path, history) -> dict[str, tuple[list[str], str]]:
    baselines, sessions = history
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "undated.json").write_text(json.dumps(
        {"environment": {"gpu": GPU, "model_source": MODEL}, "results": []}))
    corrupt = tmp_path / "corrupt-baselines" / "gpu"
    corrupt.mkdir(parents=True)
    (corrupt / "m.json").write_text(json.dumps({"schema": "quantbench.baseline/9"}))
    base = ["--baseline-dir", str(baselines), "--out", str(tmp_path / "p")]
    return {
        "unknown metric": ([*base, "--metric", "decode_tsp"], "--metric: unknown metric 'decode_tsp' "
                           "(did you mean 'decode_tps'?)"),
        "no baseline dir": (["--baseline-dir", str(tmp_path / "nowhere")],
                            f"no baseline folder at {tmp_path / 'nowhere'}"),
        "broken session": ([*base, str(tmp_path / "broken.json")], "invalid JSON"),
        "undated session": ([*base, str(tmp_path / "undated.json")], "has no environment date"),
        "corrupt baseline": (["--baseline-dir", str(tmp_path / "corrupt-baselines")],
                             "schema 'quantbench.baseline/9' is not supported"),
        "bad export": ([*base, "--export", "grafana=x.json"], "unknown export format 'grafana'"),
        "export without file": ([*base, "--export", "bencher"], "expected FORMAT=FILE"),
        "unknown option": ([*base, "--colour"], "unrecognized arguments: --colour"),
        "nothing to show": ([*base, "--metric", "roofline_pct"], "nothing to show"),
        "out is a file": ([*map(str, sessions), *base[:2], "--out", str(sessions[0])], "cannot write"),
    }


@pytest.mark.parametrize("case", ["unknown metric", "no baseline dir", "broken session",
                                  "undated session", "corrupt baseline", "bad export",
                                  "export without file", "unknown option", "nothing to show",
                                  "out is a file"])
def test_unusable_input_is_one_line_and_exit_4(case: str, history, tmp_path, capsys) -> None:
    argv, reason = bad(tmp_path, history)[case]
    code, out, err = run(capsys, *argv)
    assert code == 4
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("quantbench history: ") and reason in err


# issue 44, item 3: the page and its charts replace a link at their names, never write through it


def test_links_at_the_page_and_chart_names_are_replaced_not_followed(history, tmp_path, capsys) -> None:
    baselines, sessions = history
    out = tmp_path / "page"
    args = [*map(str, sessions), "--baseline-dir", str(baselines), "--out", str(out)]
    assert run(capsys, *args)[0] == 0
    chart = sorted(out.glob("*.png"))[0]
    victims = {name: tmp_path / f"victim-{name}" for name in ("index.html", chart.name)}
    for name, victim in victims.items():
        victim.write_text("precious")
        (out / name).unlink()
        (out / name).symlink_to(victim)
    assert run(capsys, *args)[0] == 0
    for name, victim in victims.items():
        assert victim.read_text() == "precious", f"{name} wrote through its link"
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 1000
    assert not list(out.glob(".*.tmp")), "no temporary file is left"
