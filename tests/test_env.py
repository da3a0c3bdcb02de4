"""The session environment: looked up once per process (the session file is rewritten after
every case), dated at each call, and never shared between callers that add to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantbench import env


def test_environment_is_looked_up_once_and_dated_each_time(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(env, "_git_commit", lambda root: calls.append(root) or "abc1234")
    env._machine.cache_clear()
    try:
        first = env.environment("cpu", tmp_path)
        first["model_source"] = "added by the caller"
        second = env.environment("cpu", tmp_path)
    finally:
        env._machine.cache_clear()
    assert calls == [tmp_path]
    assert second["commit"] == "abc1234" and second["device"] == "cpu"
    assert "model_source" not in second
    assert first["date"] and second["date"] >= first["date"]
