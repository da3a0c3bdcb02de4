"""No silent pass, and a closing label that names the true cause (issue 44, items 4-7, 9, 10).

Each case a hostile user tried on ed72a9d went green or said the wrong thing: a gate skipped by
``--benchmark-skip``, an A/B whose runs all updated the baseline or all failed, a session that
lost the CPU's only counter, a job summary pointing at a missing folder, a full report folder
that printed "gate: pass" before exit 4, a failing load labelled "exit 4: nothing compared".
In-process through ``compare`` and ``ab`` (the fake runner of ``test_ab``) where that is the
same code, and in real ``pytest benches`` sessions where the plugin is what is tested.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from quantbench.results import Metric
from fakes import FakeAbRunner as FakeRunner, ab
from stored import case as _case, compare as _compare, saved as _saved, store as _store
from session_runs import run_session


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no [tool.quantbench] table
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)


CALLS = Metric.exact("decode_py_calls", "calls/token", 412.0, higher_is_better=False)


# item 4: a gate asked for, with every bench skipped, is exit 4 in one line


@pytest.mark.parametrize("option", ["--benchmark-compare", "--qb-update-baseline"])
@pytest.mark.session
def test_a_gate_whose_benches_were_all_skipped_is_exit_4(tmp_path: Path, option: str) -> None:
    folder = tmp_path / "baselines"
    session = run_session(tmp_path / "cache", tmp_path / "work", "--qb-methods", "fp16", "-k", "len128",
                          option, "--benchmark-skip", baseline_dir=folder)
    assert session.code == 4, session.explain()
    (line,) = session.lines_with("but no bench ran")
    assert line.startswith(f"quantbench: {option} asked for the gate, but no bench ran "
                           "(--benchmark-skip skipped every bench): nothing judged"), line
    assert ("no baseline written" in line) == (option == "--qb-update-baseline")
    assert session.lines_with("ERROR quantbench gate - exit 4: no bench ran (--benchmark-skip")
    assert not folder.exists()


# item 5: ab refuses to pass --qb-update-baseline to its runs


@pytest.mark.parametrize("where", ["pytest args", "head args", "PYTEST_ADDOPTS", "pyproject"])
def test_ab_refuses_runs_that_would_update_the_baseline(tmp_path: Path, capsys, where: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    runner = FakeRunner({"base": [100] * 3, "head": [100] * 3})
    extra: list[str] = []
    if where == "PYTEST_ADDOPTS":
        monkeypatch.setenv("PYTEST_ADDOPTS", "-q --qb-update-baseline")
    elif where == "pyproject":
        (tmp_path / "base-src").mkdir()
        (tmp_path / "base-src" / "pyproject.toml").write_text("[tool.quantbench]\nupdate_baseline = true\n")
    elif where == "head args":
        extra = ["--head-args=--qb-update-baseline"]  # the last --head-args is the one used
    else:
        monkeypatch.setattr("fakes.PYTEST_ARGS", ["--qb-update-baseline"])
    assert ab(tmp_path, runner, *extra) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("quantbench ab: --qb-update-baseline in "), err
    assert "would make every base and head run write the baseline" in err
    assert runner.calls == []  # refused before any run


# item 6: an A/B whose head runs all exited 1 is no pass


def test_ab_whose_every_run_exited_1_cannot_judge(tmp_path: Path, capsys) -> None:
    codes = {(side, i): 1 for side in ("base", "head") for i in (1, 2, 3)}
    runner = FakeRunner({"base": [100] * 3, "head": [100] * 3}, codes=codes)
    assert ab(tmp_path, runner) == 4
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("ab: cannot judge: every base and head run exited 1"), last
    comment = (tmp_path / "ab" / "comment.md").read_text()
    assert "nothing failing" not in comment and "❌ **1 failing**" in comment
    assert "every base and head run exited 1" in comment


def test_ab_whose_every_head_run_exited_1_fails(tmp_path: Path, capsys) -> None:
    runner = FakeRunner({"base": [100] * 3, "head": [100] * 3},
                        codes={("head", i): 1 for i in (1, 2, 3)})
    assert ab(tmp_path, runner) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("ab: FAIL: every head run exited 1")
    assert "❌ **FAIL: 0 failing row(s), 1 run failure(s)**" in (tmp_path / "ab" / "summary.md").read_text()


# item 7: a session that lost a gated metric (the CPU's only counter) fails, not "not run"


def test_a_lost_counter_fails_the_gate(tmp_path: Path, capsys) -> None:
    _store(tmp_path, [_case("fp16", decode_py_calls=CALLS)])
    assert _compare(tmp_path, _saved(tmp_path, [_case("fp16")])) == 1
    out = capsys.readouterr().out
    assert "lost: eager/generate-bs1 fp16 measured decode_py_calls in the baseline and not now" in out
    assert out.splitlines()[-1] == "gate: FAIL: fp16 (1 regression)"
    comment = (tmp_path / "reports" / "comment.md").read_text()
    assert "❌ **1 failing**" in comment and "nothing failing" not in comment


# item 9: the job summary's fault is named, the reports kept; a full folder is no "gate: pass"


def test_a_job_summary_in_a_missing_folder_keeps_the_reports(tmp_path: Path, capsys,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    step = tmp_path / "no-such-folder" / "summary"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    _store(tmp_path, [_case("fp16")])
    assert _compare(tmp_path, _saved(tmp_path, [_case("fp16")])) == 4
    out = capsys.readouterr().out
    assert f"quantbench: the job summary was not appended (GITHUB_STEP_SUMMARY={step}): no such file" in out
    assert "reports not written" not in out
    assert {p.name for p in (tmp_path / "reports").iterdir()} >= {"summary.md", "comment.md",
                                                                  "comparison.json"}
    assert out.splitlines()[-1].startswith("gate: exit 4: the job summary was not appended")


def test_a_full_report_folder_does_not_close_with_gate_pass(tmp_path: Path, capsys,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from quantbench.report import publish

    def full(path: Path, *args: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(publish, "write_chart", full)
    _store(tmp_path, [_case("fp16")])
    assert _compare(tmp_path, _saved(tmp_path, [_case("fp16")])) == 4
    lines = capsys.readouterr().out.splitlines()
    assert "gate: pass" not in lines
    assert lines[-1] == (f"gate: exit 4: reports not written to {tmp_path / 'reports'}: no space left "
                         "on device (the verdict alone: pass)")


# item 10: a failing load is exit 1, and the label says so


@pytest.mark.session
def test_a_failing_load_is_labelled_exit_1_with_its_cause(tmp_path: Path) -> None:
    session = run_session(tmp_path / "cache", tmp_path / "work", "--qb-methods", "fp16,bf16", "-k", "len128",
                          "--qbt-fail-load", "bf16")
    assert session.code == 1, session.explain()
    assert session.lines_with("ERROR quantbench gate - exit 1: a bench failed or a method could not load")
    assert not session.lines_with("exit 4")
