"""``python -m quantbench compare``: a saved session is re-judged exactly as its live gate would."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from quantbench.cli import main

ROOT = Path(__file__).resolve().parents[1]
C8 = ROOT / "docs/results/h100-2026-11-25/c8-session.json"
# the H100 baseline c8-rejudged.md was judged against (recalibrated since; history keeps it)
C8_BASELINE = ROOT / "baselines/nvidia-h100-80gb-hbm3/history/synthetic-qwen2.5-0.5b-instruct.20261125T231111Z.json"


def _rows(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if re.match(r"^\w+/\S+ +\| ", line)]


def test_compare_reproduces_the_recorded_c8_verdicts(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # the repository's [tool.quantbench]
    baselines = tmp_path / "baselines" / "nvidia-h100-80gb-hbm3"
    baselines.mkdir(parents=True)
    (baselines / "synthetic-qwen2.5-0.5b-instruct.json").write_bytes(C8_BASELINE.read_bytes())
    code = main(["compare", str(C8), "--report-dir", str(tmp_path), "--baseline-dir", str(tmp_path / "baselines"),
                 "--allow-partial"])  # c8 was cut off after its compiled cases
    out = capsys.readouterr().out
    recorded = (ROOT / "docs/results/h100-2026-11-25/c8-rejudged.md").read_text()
    assert code == 1
    assert out.splitlines()[0] == "partial session (--allow-partial): only the cases it finished are judged"
    assert sorted(_rows(out)) == sorted(_rows(recorded)) and len(_rows(out)) == 32
    assert ("moved: compiled/generate-bs1 fp16: the wall clock (no device-time figures here" in out)
    assert out.splitlines()[-1].startswith("gate: FAIL, 4 regression(s)")
    report = json.loads((tmp_path / "comparison.json").read_text())
    assert report["comparison"]["regressions"] == 4 and not report["comparison"]["exit_ok"]


def test_compare_refuses_a_file_that_is_not_a_session(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "session.json"
    bad.write_text('{"results": []}')
    assert main(["compare", str(bad)]) == 4
    assert capsys.readouterr().err.strip() == (
        f"quantbench compare: session file {bad} is unusable: missing key 'environment'")


@pytest.mark.parametrize("argv", [[], ["frobnicate"]])
def test_an_unknown_command_prints_the_usage(argv: list[str], capsys) -> None:
    assert main(argv) == 4
    assert "python -m quantbench compare SESSION.json" in capsys.readouterr().err
