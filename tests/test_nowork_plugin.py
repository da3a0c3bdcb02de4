"""The test-only ``quantbench.testing.nowork`` plugin leaves out the asked part of the work pass,
and a session run with it says so in every generate case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quantbench.run import runner, work_pass
from quantbench.testing import nowork
from session_runs import run_session
from fakes import FakeConfig


@pytest.mark.parametrize(("skip", "ran", "left"), [
    ("profile", ["calls"], "profile"), ("calls", ["profile"], "calls"), ("both", [], "passes")])
def test_only_the_parts_not_skipped_run(monkeypatch: pytest.MonkeyPatch, skip: str,
                                        ran: list[str], left: str) -> None:
    calls: list[str] = []

    def profile(engine: Any, prompt: Any, tokens: int, step_ms: float) -> dict[str, Any]:
        calls.append("profile")
        assert tokens == min(work_pass.PROFILE_TOKENS, 64)
        return {"decode_kernel_us": "k"}

    def count(engine: Any, prompt: Any, tokens: int) -> str:
        calls.append("calls")
        assert tokens == work_pass.HOST_CALL_TOKENS
        return "n"

    monkeypatch.setattr(work_pass, "device_metrics", profile)
    monkeypatch.setattr(work_pass, "python_calls_per_step", count)
    config = FakeConfig({"qb_skip_pass": skip})
    nowork.pytest_configure(config)  # type: ignore[arg-type]
    work, notes = runner.work_metrics(object(), object(), 64, 5.0, "cuda")
    assert calls == ran
    figures = {"profile": "decode_kernel_us", "calls": "decode_py_calls"}
    assert set(work) == {figures[part] for part in ran}
    assert notes == [f"work pass without its {left} (quantbench.testing.nowork)"]
    for undo in config.cleanups:
        undo()
    assert work_pass.device_metrics is profile and work_pass.python_calls_per_step is count
    assert runner.work_metrics is work_pass.work_metrics


@pytest.mark.session
def test_a_session_without_the_call_count_records_none_and_says_why(tmp_path: Path) -> None:
    session = run_session(tmp_path / "cache", tmp_path, "-p", "quantbench.testing.nowork",
                          "--qb-skip-pass", "calls", "--qb-methods", "fp16", "-k", "generate and bs1")
    assert session.code == 0, session.explain()
    (row,) = session.data["results"]
    assert "decode_py_calls" not in row["metrics"] and "decode_tps" in row["metrics"]
    assert "work pass without its calls (quantbench.testing.nowork)" in row["notes"]


@pytest.mark.session
def test_an_unknown_part_is_refused(tmp_path: Path) -> None:
    session = run_session(tmp_path / "cache", tmp_path, "-p", "quantbench.testing.nowork",
                          "--qb-skip-pass", "kernels", "--qb-methods", "fp16", "-k", "generate and bs1")
    assert session.code == 4, session.explain()
    assert "invalid choice: 'kernels'" in session.output
