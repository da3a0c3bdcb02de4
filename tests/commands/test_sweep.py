"""``python -m quantbench sweep``: the map from fake session files, and the orchestration with a
fake runner that stands in for ``PYTHON -m pytest benches`` and writes the session file each
model's run would leave in its ``--qb-report-dir``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import pytest

from quantbench.report.escape import markdown
from quantbench.commands import cli
from quantbench.config import Scenario
from quantbench.results import Metric
from quantbench.session import Session
from quantbench.commands.child import ChildRun, run_child
from fakes import BIG, PARAMS, RTN, SMALL, case, gpu_runs, session
from quantbench.commands.sweep import folder_name, main, outcome, session_command
from quantbench.report.sweep_map import (
    NOT_MEASURED, ModelRun, map_markdown, map_rows, series, write_map,
)
from quantbench.sources import model_parameters

def test_every_ratio_is_exact() -> None:
    rows = {(r.model, r.mode, r.method): r for r in map_rows(gpu_runs())}
    awq = rows[(BIG, "eager", "awq")]
    assert awq.e2e_ratio == 72.0 / 120.0
    assert awq.kernel_ratio == 6500.0 / 3800.0
    assert awq.vram_saved == 1 - 5.5 / 15.2
    assert awq.prefill_kernel_ratio == (6500.0 / 50) / (3800.0 / 50)
    assert awq.peak_saved == 1 - 5.6 / 15.3
    assert (awq.decode_tps, awq.kernel_us, awq.weights_gb) == (72.0, 3800.0, 5.5)
    small_awq = rows[(SMALL, "eager", "awq")]
    assert (small_awq.e2e_ratio, small_awq.kernel_ratio) == (100.0 / 320.0, 1437.0 / 1500.0)
    assert small_awq.vram_saved == 1 - 0.45 / 0.988
    fp16 = rows[(BIG, "eager", "fp16")]
    assert (fp16.e2e_ratio, fp16.kernel_ratio, fp16.vram_saved) == (1.0, 1.0, 0.0)
    compiled = rows[(BIG, "generate-compiled", "int4wo")]
    assert not compiled.has_reference
    assert (compiled.e2e_ratio, compiled.kernel_ratio, compiled.vram_saved) == (None, None, None)


def test_rows_go_by_size_then_mode_with_fp16_first() -> None:
    order = [(r.model, r.mode, r.method) for r in map_rows(gpu_runs())]
    assert order == [(SMALL, "eager", "fp16"), (SMALL, "eager", "awq"), (BIG, "eager", "fp16"),
                     (BIG, "eager", "awq"), (BIG, "eager", "int4wo"), (BIG, "generate-compiled", "int4wo")]


def test_markdown_rows_and_notes() -> None:
    runs = gpu_runs()
    text = map_markdown(runs, map_rows(runs), ["python", "-m", "quantbench", "sweep"])
    assert ("| synthetic:qwen2.5-7b-instruct | 7.62B | eager | generate-bs1 | awq | 72.0 | 0.60× "
            "| 3800.0 | 1.71× | 1.71× | 5.500 | 64% | 63% |") in text
    assert "| synthetic:qwen2.5-7b-instruct | 7.62B | generate-compiled | generate-bs1 | int4wo | 100.0 | " \
           "no fp16 | 3760.0 | no fp16 | no fp16 | 5.000 | no fp16 | no fp16 |" in text
    assert "| synthetic:qwen2.5-0.5b-instruct | 0.49B | 0 | passed | out/small |" in text
    assert text.count(RTN) == 1  # each distinct AWQ note once


def test_a_cpu_session_says_kernel_time_not_measured() -> None:
    cpu = session("synthetic:qwen2-tiny", [case("fp16", "eager", 50.0, 0.002),
                                            case("int8", "eager", 25.0, 0.001)])
    runs = [ModelRun("synthetic:qwen2-tiny", 2_000_000, 0, "passed", "out/tiny", cpu)]
    rows = map_rows(runs)
    assert [(r.e2e_ratio, r.kernel_ratio) for r in rows] == [(1.0, None), (0.5, None)]
    line = next(l for l in map_markdown(runs, rows, []).splitlines() if "| int8 |" in l)
    assert line.split(" | ")[6:10] == ["0.50×", NOT_MEASURED, NOT_MEASURED, NOT_MEASURED]
    assert line.endswith("| 50% | - | - | not measured |")  # weights saved; no peak, bandwidth or busy share here


def test_chart_series_per_mode_and_level() -> None:
    rows = map_rows(gpu_runs())
    eager = series(rows, "eager", "kernel_ratio")
    assert eager["awq"] == [(PARAMS[SMALL] / 1e9, 1437.0 / 1500.0), (PARAMS[BIG] / 1e9, 6500.0 / 3800.0)]
    assert eager["int4wo"] == [(PARAMS[BIG] / 1e9, 6500.0 / 3250.0)]
    assert series(rows, "generate-compiled", "e2e_ratio") == {}  # no fp16 compiled: nothing to draw


def test_write_map_files(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    written, notes = write_map(tmp_path, gpu_runs(), ["python", "-m", "quantbench", "sweep"])
    assert notes == [] and [p.name for p in written] == ["map.md", "map.json", "map.png"]
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "map.json").read_text())
    assert data["reference_method"] == "fp16" and data["notes"] == [RTN]
    assert data["sessions"][0] == {"model": BIG, "parameters": PARAMS[BIG], "exit_code": 0,
                                   "status": "passed", "report_dir": "out/big"}
    awq = next(r for r in data["rows"] if r["model"] == BIG and r["method"] == "awq")
    assert (awq["e2e_ratio"], awq["kernel_ratio"]) == (72.0 / 120.0, 6500.0 / 3800.0)


def test_parameters_of_shipped_and_unknown_models() -> None:
    assert model_parameters("synthetic:qwen2.5-7b-instruct") == PARAMS[BIG]
    assert model_parameters("Qwen/Qwen2.5-7B-Instruct") is None  # a hub id: no network here


@dataclass
class FakeSweepRunner:
    """Writes each model's session; ``codes``, ``partial`` and ``no_file`` spoil some."""

    codes: Mapping[str, int] = field(default_factory=dict)
    partial: tuple[str, ...] = ()
    no_file: tuple[str, ...] = ()
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> int:
        model = argv[argv.index("--qb-model") + 1]
        report = Path(argv[argv.index("--qb-report-dir") + 1])
        self.calls.append(list(argv))
        log.write_text(f"fake run of {model}\n")
        if model not in self.no_file:
            session(model, [case("fp16", "eager", 100.0, 1.0), case("nf4", "eager", 50.0, 0.3)],
                    partial=model in self.partial).write(report / "session.json")
        return self.codes.get(model, 0)


def sweep(tmp_path: Path, runner: FakeSweepRunner, models: Sequence[str], *extra: str) -> int:
    argv = ["--models", ",".join(models), "--out", str(tmp_path / "sweep"), *extra,
            "--", "-k", "generate", "--qb-methods", "fp16,nf4"]
    return main(argv, run=runner, parameters=lambda m: PARAMS.get(m))


def test_one_session_per_model_in_order(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runner = FakeSweepRunner()
    assert sweep(tmp_path, runner, [SMALL, BIG]) == 0
    out = tmp_path / "sweep"
    assert runner.calls == [session_command(runner.calls[0][0], m, out / folder_name(m),
                                            ["-k", "generate", "--qb-methods", "fp16,nf4"])
                            for m in (SMALL, BIG)]
    assert runner.calls[1][1:4] == ["-m", "pytest", "benches"]
    assert (out / "synthetic-qwen2.5-7b-instruct" / "session.json").is_file()
    rows = json.loads((out / "map.json").read_text())["rows"]
    assert [(r["model"], r["method"], r["e2e_ratio"]) for r in rows] == [
        (SMALL, "fp16", 1.0), (SMALL, "nf4", 0.5), (BIG, "fp16", 1.0), (BIG, "nf4", 0.5)]
    assert capsys.readouterr().out.splitlines()[-1] == "sweep: pass"


def test_a_failed_or_cut_off_model_does_not_stop_the_others(tmp_path: Path) -> None:
    tiny = "synthetic:qwen2-tiny"
    runner = FakeSweepRunner(codes={SMALL: 1, BIG: -9}, partial=(BIG,), no_file=())
    assert sweep(tmp_path, runner, [SMALL, BIG, tiny]) == 137  # the worst: SIGKILL
    assert len(runner.calls) == 3
    sessions = json.loads((tmp_path / "sweep" / "map.json").read_text())["sessions"]
    assert [(s["exit_code"], s["status"]) for s in sessions] == [
        (1, "failed (exit 1)"), (137, "cut off (partial session)"), (0, "passed")]


def test_outcome_of_a_missing_or_partial_session(tmp_path: Path) -> None:
    log = tmp_path / "pytest.log"
    assert outcome(ChildRun(0, None, "no session file at x", log, 1.0)) == (4, "no session file", None)
    partial = session(SMALL, [], partial=True)
    code, status, got = outcome(ChildRun(0, partial, None, log, 1.0))
    assert (code, status, got.partial) == (4, "cut off (partial session)", True)
    assert outcome(ChildRun(2, session(SMALL, []), None, log, 1.0))[:2] == (2, "failed (exit 2)")
    assert outcome(ChildRun(-9, session(SMALL, []), None, log, 1.0))[:2] == (137, "failed (exit 137)")


def test_a_child_run_reads_back_only_its_own_session(tmp_path: Path) -> None:
    """run_child removes a stale session file first, so a run that writes none reads as none."""
    folder = tmp_path / "run"
    folder.mkdir()
    session(SMALL, []).write(folder / "session.json")  # left by an earlier run
    child = run_child(["python"], folder, tmp_path, lambda argv, cwd, env, log: 0, {})
    assert child.session is None and child.problem.startswith("no session file at")

    def writes(argv, cwd, env, log):  # noqa: ANN001, ANN202
        session(SMALL, []).write(folder / "session.json")
        log.write_text("ok")
        return 1

    child = run_child(["python"], folder, tmp_path, writes, {})
    assert (child.code, child.problem, child.log.read_text()) == (1, None, "ok")
    assert child.session is not None and not child.partial


@pytest.mark.parametrize(("argv", "message"), [
    ([], "no models: give --models M1,M2,... or --from SESSION.json ... (see --help)"),
    (["--models", " , "], "--models names no model"),
    (["--models", "synthetic:llama-9000"], "unknown synthetic model 'llama-9000'; shipped: "),
    (["--models", f"{SMALL},{SMALL}"], f"model {SMALL!r} is named twice"),
    (["--models", SMALL, "--", "--qb-model", BIG],
     "--qb-model is set by the sweep for each model; leave it out of the pytest arguments"),
    (["--models", SMALL, "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_input_is_one_line_and_exit_4(argv: list[str], message: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    runner = FakeSweepRunner()
    assert main([*argv, "--out", str(tmp_path)] if "--" not in argv else argv, run=runner) == 4
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"quantbench sweep: {message}") and "\n" not in err
    assert runner.calls == []


def test_an_unwritable_out_folder_is_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    runner = FakeSweepRunner()
    assert main(["--models", SMALL, "--out", str(blocker)], run=runner) == 4
    assert capsys.readouterr().err.strip() == (f"quantbench sweep: cannot write the out folder "
                                               f"{blocker}: it is a file, not a folder")
    assert runner.calls == []


def test_cli_dispatches_sweep(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["sweep"]) == 4
    assert "no models" in capsys.readouterr().err


def test_small_models_are_counted_in_millions() -> None:
    runs = [ModelRun("synthetic:qwen2-tiny", 1_234_567, 0, "passed", "out/t", None)]
    assert "| synthetic:qwen2-tiny | 1.2M | 0 | passed | out/t |" in map_markdown(runs, [], [])


def test_the_map_from_stored_sessions_of_several_leases(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # a map too long for one lease: 7B eager and 7B compiled measured apart, 0.5B in a third
    files = {"big-eager": session(BIG, [case("fp16", "eager", 120.0, 15.2, 6500.0),
                                        case("int4wo", "eager", 90.0, 5.0, 3250.0)]),
             "big-compiled": session(BIG, [case("fp16", "generate-compiled", 150.0, 15.2, 6400.0),
                                           case("int4wo", "generate-compiled", 240.0, 5.0, 3500.0)]),
             "small": session(SMALL, [case("fp16", "eager", 320.0, 0.988, 1437.0)], partial=True)}
    paths = []
    for name, stored in files.items():
        stored.write(tmp_path / name / "session.json")
        paths.append(str(tmp_path / name / "session.json"))
    out = tmp_path / "map"
    runner = FakeSweepRunner()
    code = main(["--from", *paths, "--out", str(out)], run=runner, parameters=lambda m: PARAMS.get(m))
    assert code == 4 and runner.calls == []  # the partial one counts as cut off; nothing ran
    data = json.loads((out / "map.json").read_text())
    assert [(r["model"], r["mode"], r["method"], r["e2e_ratio"]) for r in data["rows"]] == [
        (SMALL, "eager", "fp16", 1.0), (BIG, "eager", "fp16", 1.0), (BIG, "eager", "int4wo", 0.75),
        (BIG, "generate-compiled", "fp16", 1.0), (BIG, "generate-compiled", "int4wo", 1.6)]
    assert [s["status"] for s in data["sessions"]] == [
        f"stored ({paths[0]})", f"stored ({paths[1]})", "cut off (partial session)"]
    assert (out / "map.md").is_file()


@pytest.mark.parametrize("problem", ["models", "pytest", "twice", "both", "missing", "scenario"])
def test_stored_sessions_bad_input_is_one_line_and_exit_4(problem: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    path, other = tmp_path / "s.json", tmp_path / "t.json"
    for p in (path, other):
        session(BIG, [case("fp16", "eager", 120.0, 15.2), case("int4wo", "eager", 90.0, 5.0)]).write(p)
    older = tmp_path / "u.json"  # 0.5B decoded 128 tokens a round (decode-128), 7B 64
    Session({"gpu": "NVIDIA H100", "model_source": SMALL}, Scenario("decode-128", new_tokens=128).to_dict(),
            [case("fp16", "eager", 320.0, 0.988)], partial=False).write(older)
    out = ["--out", str(tmp_path / "o")]
    argv = {"models": ["--from", str(path), "--models", BIG, *out],
            "pytest": ["--from", str(path), *out, "--", "-k", "generate"],
            "twice": ["--from", str(path), str(tmp_path / "." / "s.json"), *out],
            "both": ["--from", str(path), str(other), *out],
            "missing": ["--from", str(tmp_path / "none.json"), *out],
            "scenario": ["--from", str(path), str(older), *out]}[problem]
    assert main(argv, run=FakeSweepRunner()) == 4
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("quantbench sweep: ")
    assert {"models": "--from draws the map from stored sessions", "pytest": "--from draws the map",
            "twice": "a session file is given twice",
            "both": "both hold synthetic:qwen2.5-7b-instruct eager generate-bs1 int4wo",
            "missing": "no session file at",
            "scenario": f"{older} measured another scenario than {path} (new_tokens: 128 against 64)"}[problem] in err
    assert not (tmp_path / "o" / "map.md").exists()


def test_a_paired_ratio_from_interleaved_rounds_is_what_the_map_shows() -> None:
    # sequential medians say BF16 is 1.5x FP16; the interleaved rounds (same session) say 0.98x:
    # the map takes the paired figure, with its interval, and says so
    bf16 = case("bf16", "eager", 150.0, 0.988, 2090.0)
    bf16.metrics["decode_ratio"] = Metric("decode_ratio", "x", 0.98, 0.95, 1.01, 5, True, None, "fixed")
    runs = [ModelRun(SMALL, PARAMS[SMALL], 0, "passed", "out/s",
                     session(SMALL, [case("fp16", "eager", 100.0, 0.988, 2070.0), bf16]))]
    rows = map_rows(runs)
    assert [(r.method, r.e2e_ratio, r.e2e_paired, r.e2e_low, r.e2e_high) for r in rows] == [
        ("fp16", 1.0, False, None, None), ("bf16", 0.98, True, 0.95, 1.01)]
    assert "| bf16 | 150.0 | 0.98× (0.95-1.01, paired) |" in map_markdown(runs, rows, ["sweep"])


def test_a_size_split_over_sessions_keeps_each_methods_ratio_to_its_own_fp16(tmp_path: Path) -> None:
    first = session(BIG, [case("fp16", "eager", 100.0, 15.2, 6000.0),
                          case("int4wo", "eager", 80.0, 5.0, 4800.0)])
    second = session(BIG, [case("fp16", "eager", 150.0, 15.2, 5900.0),
                           case("nf4", "eager", 120.0, 5.8, 5900.0)])
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for stored, path in zip((first, second), paths):
        stored.write(path)
    out = tmp_path / "map"
    code = main(["--from", *map(str, paths), "--out", str(out)], run=FakeSweepRunner(),
                parameters=lambda m: PARAMS.get(m))
    assert code == 0
    data = json.loads((out / "map.json").read_text())
    assert [(r["method"], r["e2e_ratio"], r["kernel_ratio"]) for r in data["rows"]] == [
        ("fp16", 1.0, 1.0), ("int4wo", 0.8, 6000.0 / 4800.0), ("fp16", 1.0, 1.0), ("nf4", 0.8, 1.0)]
    # the two FP16s read 100 and 150 tok/s: what the host alone moves a ratio not paired
    assert data["notes"] == [f"{BIG} eager generate-bs1: fp16 measured in 2 sessions (100.0 and 150.0 "
                             "tok/s, 33 % apart); each method's ratios are to the fp16 of its own session"]


def test_a_stored_session_with_a_failed_method_fails_the_sweep_and_its_cells_say_so(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # every compiled fp8dq case failed on an H200 (2026-12-04) and the stored-session map said pass
    why = ("fp8dq failed in test_generate[fp8dq-bs1-compiled]: InternalTorchDynamoError: "
           "AttributeError: 'Float8Tensor' object has no attribute 'block_size'")
    stored = session(BIG, [case("fp16", "generate-compiled", 150.0, 15.2, 6400.0),
                           case("int4wo", "generate-compiled", 240.0, 5.0, 3500.0)])
    stored.failures = {"fp8dq": why}
    path = tmp_path / "s.json"
    stored.write(path)
    out = tmp_path / "map"
    code = main(["--from", str(path), "--out", str(out)], run=FakeSweepRunner(), parameters=lambda m: PARAMS.get(m))
    assert code == 1
    assert capsys.readouterr().out.splitlines()[-1] == f"sweep: exit 1; {BIG}: failed ({path}): {why}"
    text = (out / "map.md").read_text()
    assert f"| {BIG} | 7.62B | 1 | {markdown(f'failed ({path}): {why}')} |" in text  # escaped
    table = text[text.index("### generate-compiled, generate-bs1"):]
    assert "| int4wo | **1.60** / 1.83 |" in table and "| fp8dq | failed |" in table
