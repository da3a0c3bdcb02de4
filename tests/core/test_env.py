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


def test_every_method_library_is_recorded_so_a_torchao_upgrade_shows_in_the_record(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    installed = {"torch": "2.11.0", "torchao": "0.18.0", "gguf": "0.17.1"}
    monkeypatch.setattr(env, "_version", lambda name: installed.get(name))
    monkeypatch.setattr(env, "_git_commit", lambda root: None)
    env._machine.cache_clear()
    try:
        versions = env.environment("cpu", tmp_path)["versions"]
    finally:
        env._machine.cache_clear()
    assert versions["torchao"] == "0.18.0" and versions["gguf"] == "0.17.1"
    assert versions["autoawq"] is None and versions["torch"] == "2.11.0"
