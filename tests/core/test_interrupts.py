"""Interrupts leave nothing half-written (issue 44, item 8): SIGTERM is handled as Ctrl-C (exit
2, the session record kept and marked partial, the gate's block printed), and an interrupt while
the reports are written removes them, so no truncated ``summary.md`` reads "✅ pass"; the
commands end an interrupt with one line and exit 2."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from quantbench import exits
from quantbench.commands import cli
from quantbench.interrupts import sigterm_as_interrupt
from quantbench.report import publish
from stored import case as _case, compare as _compare, saved as _saved, store as _store
from session_runs import run_session


@pytest.mark.session
def test_sigterm_in_a_session_is_exit_2_with_a_partial_record(tmp_path: Path) -> None:
    report, baselines, cache = tmp_path / "report", tmp_path / "baselines", tmp_path / "cache"
    made = run_session(cache, tmp_path / "work", "--qb-methods", "fp16", "-k", "len128",
                       "--qb-update-baseline", baseline_dir=baselines)
    assert made.code == 0, made.explain()
    session = run_session(cache, tmp_path / "work", "--qb-methods", "fp16,bf16", "-k", "len128",
                          "--benchmark-compare", "--qb-tolerance", "throughput=0.99",
                          "--qb-report-dir", str(report), "--qbt-term-at", "bf16", baseline_dir=baselines)
    assert session.code == exits.INTERRUPTED, session.explain()  # was 143: killed, nothing said
    record = json.loads((report / "session.json").read_text())
    assert record["partial"] is True
    assert [r["method"] for r in record["results"]] == ["fp16"]  # what it finished is kept
    assert session.lines_with("quantbench results")  # the gate's block still printed
    assert session.lines_with("ERROR quantbench gate - exit 2: interrupted (Ctrl-C or SIGTERM)")
    assert not list(report.glob(".*.tmp"))
    summary = (report / "summary.md").read_text()  # whole, and no pass: the session was cut short
    assert "✅" not in summary and "the session was interrupted (Ctrl-C or SIGTERM)" in summary


def test_sigterm_raises_keyboard_interrupt_and_is_put_back() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    restore = sigterm_as_interrupt()
    try:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) == previous


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    _store(tmp_path, [_case("fp16")])
    return _saved(tmp_path, [_case("fp16")])


def test_an_interrupt_while_the_reports_are_written_leaves_none(stored: Path, tmp_path: Path,
                                                               monkeypatch, capsys) -> None:
    def interrupted(*args: object, **kwargs: object) -> str:
        raise KeyboardInterrupt  # after comparison.png, comparison.json and summary.md

    monkeypatch.setattr(publish, "digest", interrupted)
    assert _compare(tmp_path, stored) == exits.INTERRUPTED
    out = capsys.readouterr().out
    assert f"quantbench: reports not written to {tmp_path / 'reports'}: interrupted while writing them" in out
    assert out.splitlines()[-1].startswith("gate: exit 2: interrupted")
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == []  # no "✅ pass" left behind


def test_a_command_interrupted_is_one_line_and_exit_2(monkeypatch, capsys) -> None:
    def interrupted(argv: list[str]) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "compare_main", interrupted)
    assert cli.main(["compare", "s.json"]) == exits.INTERRUPTED
    assert capsys.readouterr().err == "quantbench compare: interrupted (Ctrl-C or SIGTERM)\n"
