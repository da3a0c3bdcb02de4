"""``lab/xdist_check.py`` (issue 23): one-GPU and ``-n N`` report folders compared."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from quantbench.results import CaseResult
from quantbench.session import Session

TOOL = Path(__file__).resolve().parents[2] / "lab" / "xdist_check.py"


def tool():
    spec = importlib.util.spec_from_file_location("xdist_check", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def folder(path: Path, time: dict, verdicts: dict[str, str], kernel_us: float,
           workers: int = 0) -> Path:
    """A report folder: a session of two cases and its comparison rows."""
    path.mkdir()
    cases = [CaseResult("default", "eager", "generate-bs1", m, "float16", {}, ()) for m in ("fp16", "nf4")]
    env = {"gpu": "H200", "model_source": "synthetic:x"}
    if workers:
        env["workers"] = {f"gw{i}": {} for i in range(workers)}
    Session(env, {"name": "default"}, cases, False, time=time).write(path / "session.json")
    rows = [{"case_key": "eager/generate-bs1", "method": "fp16", "metric": metric, "verdict": verdict,
             "tolerance": 0.1, "current": {"median": 50.0}} for metric, verdict in verdicts.items()]
    rows.append({"case_key": "eager/generate-bs1", "method": "fp16", "metric": "decode_kernel_us",
                 "verdict": "pass", "tolerance": 0.03, "current": {"median": kernel_us}})
    rows.append({"case_key": "eager/generate-bs1", "method": "fp16", "metric": "weights_gb_info",
                 "verdict": "info", "tolerance": None, "current": {"median": 1.0}})
    (path / "comparison.json").write_text(json.dumps({"comparison": {"rows": rows}}))
    return path


def test_a_faster_split_run_with_the_same_gate_outcomes_passes(tmp_path) -> None:
    one = folder(tmp_path / "n0", {"wall_s": 150.0}, {"decode_tps": "pass", "ttft_ms": "pass"}, 2000.0)
    many = folder(tmp_path / "n2", {"wall_s": 170.0, "elapsed_s": 85.0},
                  {"decode_tps": "unconfirmed", "ttft_ms": "pass"}, 2010.0, workers=2)
    lines, ok = tool().check(one, many, 0.6)
    assert ok, lines
    assert lines[0] == "session wall: one GPU 150.0 s, -n 2 85.0 s, ratio 0.57 (at most 0.6)"
    assert "gated rows in both: 3; verdicts that differ: 1, of which gate outcomes (fails or not): 0" in lines
    assert lines[-1] == "xdist_check: pass"


def test_a_failing_row_a_moved_kernel_time_or_a_slow_split_fails(tmp_path, capsys) -> None:
    one = folder(tmp_path / "n0", {"wall_s": 150.0}, {"decode_tps": "pass"}, 2000.0)
    many = folder(tmp_path / "n2", {"wall_s": 190.0, "elapsed_s": 95.0}, {"decode_tps": "regression"},
                  2100.0, workers=2)
    assert tool().main(["--one", str(one), "--many", str(many)]) == 1
    out = capsys.readouterr().out
    assert "ratio 0.63 (at most 0.6)" in out
    assert "eager/generate-bs1 fp16 decode_tps: pass with one GPU, regression with -n (gate outcome differs)" in out
    assert "eager/generate-bs1 fp16 decode_kernel_us: 2,000 → 2,100 (+5.0%, tolerance 3.0%)" in out
    assert out.rstrip().endswith("xdist_check: FAIL")


def test_an_unreadable_folder_is_one_line(tmp_path) -> None:
    with pytest.raises(SystemExit, match=r"^xdist_check: .*n0: no session file at"):
        tool().check(tmp_path / "n0", tmp_path / "n2", 0.6)
