"""quantbench as an installed plugin: a fresh repository with one bench file and no conftest gets
the options, the fixtures and the gate from the ``pytest11`` entry point alone; a quality
failure fails that session like a regression and shows in summary.md and comparison.json."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from quantbench.catalog import spec

BENCH = '''
def test_generate(qb_model, qb_batch_size, quantbench, benchmark):
    case, run = quantbench.generate(qb_model, qb_batch_size, "eager", benchmark)
    assert case.metrics["decode_tps"].median > 0


def test_quality(qb_model, quantbench, benchmark):
    quantbench.quality(qb_model, "eager", benchmark)


def test_an_argument_named_mode_is_left_alone():
    mode = "mine"
    assert mode == "mine"
'''

PYPROJECT = '''
[tool.quantbench]
methods = ["fp16", "nf4"]
batch_sizes = [1]
prefill_lengths = []
new_tokens = 16
prompt_tokens = 16
cpu_time_budget_s = 0.3
max_kl_divergence = {max_kl}
'''


def _repo(tmp_path: Path, max_kl: float) -> Path:
    repo = tmp_path / f"repo-{max_kl}"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(PYPROJECT.format(max_kl=max_kl))
    (repo / "bench_llm.py").write_text(BENCH)
    return repo


def _pytest(repo: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "GITHUB_STEP_SUMMARY")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "pytest", "bench_llm.py", "-p", "no:cacheprovider",
           "--benchmark-disable", "--qb-cache-dir", str(cache), *args]
    return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.mark.session
def test_a_fresh_repo_runs_and_gates_with_the_installed_plugin(tmp_path: Path, cache: Path) -> None:
    pytest.importorskip("bitsandbytes")
    repo = _repo(tmp_path, 0.5)
    first = _pytest(repo, cache, "--qb-update-baseline")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert "5 passed" in first.stdout
    (baseline,) = (repo / "baselines" / "cpu").glob("*.json")
    assert baseline.name == "synthetic-qwen2-tiny.json"
    gated = _pytest(repo, cache, "--benchmark-compare", "--qb-tolerance", "throughput=0.9",
                    "--qb-tolerance", "latency=0.9")
    assert "compared with" in gated.stdout and str(baseline) in gated.stdout, gated.stdout[-3000:]
    # The gate ran and judged: pass, or (a neighbour slowed this shared CPU's wall clock) a
    # failure of wall-clock rows only; never a usage error, an unusable baseline or a crash.
    (outcome,) = [line for line in gated.stdout.splitlines() if line.startswith("gate: ")]
    if gated.returncode != 0:
        assert gated.returncode == 1 and outcome.startswith("gate: FAIL"), gated.stdout[-3000:]
        rows = json.loads((repo / ".quantbench" / "comparison.json").read_text())["comparison"]["rows"]
        failed = [r["metric"] for r in rows if r["verdict"] == "regression"]
        assert {spec(m).family for m in failed} == {"wall"}, outcome
    else:
        assert outcome.startswith("gate: pass"), outcome
    session = json.loads((repo / ".quantbench" / "session.json").read_text())
    assert session["schema"] == "quantbench.session/1" and session["partial"] is False
    assert {(r["case"], r["method"]) for r in session["results"]} == {
        ("generate-bs1", "fp16"), ("generate-bs1", "nf4"), ("quality", "fp16"), ("quality", "nf4")}


@pytest.mark.session
def test_a_quality_failure_fails_the_session_and_shows_in_the_reports(tmp_path: Path, cache: Path) -> None:
    pytest.importorskip("bitsandbytes")
    repo = _repo(tmp_path, 1e-12)  # NF4's KL from FP16 on the tiny model is ~1e-3 nats
    proc = _pytest(repo, cache, "--color=yes")
    assert proc.returncode == 1, proc.stdout[-3000:]
    plain = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout).splitlines()
    assert "5 passed" in plain[-1]  # the benches pass; the session's verdict fails
    # pytest's last line is red and counts the failed gate as an error, as its exit status says
    assert re.search(r"5 passed.*1 error", plain[-1]) and proc.stdout.splitlines()[-1].startswith("\x1b[31m")
    assert plain[-2].startswith("ERROR quantbench gate - exit 1: a regression or quality failure")
    # read cold: the block's last lines say which method failed, on what, and FAIL
    block = plain[plain.index(next(x for x in plain if "quantbench results" in x)):]
    gate_line = block.index("gate: FAIL: nf4 (1 quality failure)")
    assert block[gate_line - 1].startswith("FAIL eager/quality nf4 — quality: KL divergence "), block
    assert [line for line in plain if line.startswith("gate: ")] == ["gate: FAIL: nf4 (1 quality failure)"]
    report = json.loads((repo / ".quantbench" / "comparison.json").read_text())["comparison"]
    (row,) = [r for r in report["rows"] if r["verdict"] == "quality fail"]
    assert (row["case_key"], row["method"], row["metric"]) == ("eager/quality", "nf4", "kl_divergence")
    assert row["reason"].startswith("nf4 KL divergence ") and " > " in row["reason"]
    assert report["exit_ok"] is False and report["regressions"] == 1
    summary = (repo / ".quantbench" / "summary.md").read_text()
    assert "quality fail" in summary and "kl_divergence" in summary
    assert "**Nothing was compared with a baseline**: --benchmark-compare was not given" in summary
    assert "- FAIL eager/quality nf4 — quality: KL divergence " in summary.split("|")[0]


@pytest.mark.session
def test_the_verdict_is_the_last_block_after_pytest_benchmarks_tables(tmp_path: Path, cache: Path) -> None:
    """Installed through its entry point, the plugin's summary ran before pytest-benchmark's, whose
    tables then came last; the gate's block must end the output, above pytest's short summary."""
    pytest.importorskip("bitsandbytes")
    repo = _repo(tmp_path, 1e-12)  # fails on NF4's quality, with no baseline needed
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "GITHUB_STEP_SUMMARY")}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run([sys.executable, "-m", "pytest", "bench_llm.py", "-p", "no:cacheprovider",
                           "--qb-cache-dir", str(cache)], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1 and any(line.startswith("Name (time in ") for line in lines), proc.stdout[-3000:]
    assert lines[-4] == "gate: FAIL: nf4 (1 quality failure)", lines[-12:]
    assert lines[-5].startswith("FAIL eager/quality nf4 — quality: KL divergence ")
    assert "short test summary info" in lines[-3] and lines[-2].startswith("ERROR quantbench gate")
