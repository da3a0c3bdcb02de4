"""The test-only ``quantbench.testing.nowork`` plugin leaves out the asked part of the work pass,
and a session run with it says so in every generate case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quantbench.run import work_pass
from quantbench.testing import nowork
from session_runs import run_session
from fakes import FakeConfig, quantbench_hooks

FIGURES = {"profile": "decode_kernel_us", "calls": "decode_py_calls"}


@pytest.fixture
def parts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The work pass's two parts faked: the list says which ran, in order."""
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
    return calls


def work_pass_under(skip: str | None) -> tuple[dict[str, Any], list[str]]:
    """A generate case's work pass through quantbench's hook, the plugin registered."""
    return quantbench_hooks(nowork).pytest_quantbench_work_pass(
        engine=object(), prompt=object(), new_tokens=64, step_ms=5.0, device="cuda",
        config=FakeConfig({"qb_skip_pass": skip}))


@pytest.mark.parametrize(("skip", "ran", "left"), [
    ("profile", ["calls"], "profile"), ("calls", ["profile"], "calls"), ("both", [], "passes")])
def test_only_the_parts_not_skipped_run(parts: list[str], skip: str, ran: list[str], left: str) -> None:
    work, notes = work_pass_under(skip)
    assert parts == ran
    assert set(work) == {FIGURES[part] for part in ran}
    assert notes == [f"work pass without its {left} (quantbench.testing.nowork)"]


def test_without_the_option_quantbenchs_own_pass_runs_whole(parts: list[str]) -> None:
    work, notes = work_pass_under(None)
    assert parts == ["profile", "calls"]
    assert set(work) == set(FIGURES.values()) and notes == []


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
