"""One exit-status table for every command (issue 22, item 21; ``quantbench.exits``): 0 pass,
1 regression, 2 interrupted (pytest's own), 4 usage or unusable input, as pytest gives a usage
error. Each command's bad-argument and bad-settings paths are one line on stderr and exit 4."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from quantbench import exits
from quantbench.commands import cli
from quantbench.session import Session

ROOT = Path(__file__).resolve().parents[2]


def test_the_statuses_are_pytests_own() -> None:
    assert exits.OK == pytest.ExitCode.OK
    assert exits.REGRESSION == pytest.ExitCode.TESTS_FAILED
    assert exits.INTERRUPTED == pytest.ExitCode.INTERRUPTED
    assert exits.USAGE == pytest.ExitCode.USAGE_ERROR


def _status(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse exits from inside main
        return int(exc.code)


BAD_ARGUMENTS = {
    "compare": ["compare"],  # the session file is required
    "compare-option": ["compare", "s.json", "--no-such-option"],
    "calibrate": ["calibrate"],
    "calibrate-typo": ["calibrate", "s.json", "--exclude-metric", "e2e_tsp"],
    "ab": ["ab", "--head", "h"],  # --base is required
    "ab-pairs": ["ab", "--base", "b", "--head", "h", "--pairs", "many"],
    "sweep": ["sweep", "--modles", "x"],
    "fetch": ["fetch", "no-such-model"],
    "unknown command": ["frobnicate"],
}


@pytest.mark.parametrize("name", list(BAD_ARGUMENTS))
def test_every_commands_bad_argument_is_exit_4(name: str, capsys) -> None:
    assert _status(BAD_ARGUMENTS[name]) == exits.USAGE
    err = capsys.readouterr().err
    if name != "unknown command":  # that one prints the usage of every command
        assert err.count("\n") == 1 and err.startswith("quantbench "), err


def test_a_metric_typo_in_calibrate_is_named(tmp_path: Path, capsys) -> None:
    assert _status(BAD_ARGUMENTS["calibrate-typo"]) == exits.USAGE
    assert capsys.readouterr().err == ("quantbench calibrate: --exclude-metric e2e_tsp: unknown metric "
                                       "(did you mean 'e2e_tps'?) (see --help)\n")


@pytest.mark.parametrize("command", ["compare", "ab"])
def test_bad_settings_are_exit_4_under_every_command(command: str, tmp_path: Path, capsys,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.quantbench]\ntime_budget_s = -5\n")
    session = tmp_path / "s.json"
    Session({"gpu": "cpu", "model_source": "synthetic:qwen2-tiny"}, {}, [], partial=False).write(session)
    argv = ["compare", str(session)] if command == "compare" else ["ab", "--base", "b", "--head", "h", "--"]
    assert _status(argv) == exits.USAGE
    err = capsys.readouterr().err
    assert err == (f"quantbench {command}: pyproject.toml [tool.quantbench] time_budget_s: expected a finite "
                   "number > 0, got -5\n")


def test_fetch_failures_are_exit_4_with_the_reason(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert _status(["fetch", "smollm2", "--cache-dir", str(blocker)]) == exits.USAGE
    assert capsys.readouterr().err == (f"quantbench fetch smollm2: cannot write {blocker}/gguf: a part of its "
                                       "path is a file, not a folder\n")


@pytest.mark.session
def test_the_pytest_gate_gives_4_for_a_bad_argument() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "benches", "--co", "-q", "-p", "no:cacheprovider",
                           "--qb-modes", "turbo"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == exits.USAGE, proc.stdout + proc.stderr
    assert proc.stderr.strip() == "ERROR: quantbench: --qb-modes: unknown mode 'turbo'; known modes: eager, generate-compiled, graph, graph-compiled"
