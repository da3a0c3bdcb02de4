"""Issue 22 through whole ``pytest benches`` sessions on the tiny CPU model: ``-n`` workers that
cannot write their records, two ``-n 2`` sessions sharing a report folder, stale records and
reports, refused ``-n`` modes, a cache that cannot be written, no home folder, and a method that
ran in the baseline and cannot run now. Sessions run as in ``tests/plugin/test_sessions.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from quantbench.commands import cli
from quantbench.plugin.workers import LOCK, start_run_folder
from session_runs import FAST, PLUGINS, ROOT, SESSION_TIMEOUT_S, Session, baseline_file, run_session

ONE = ["--qb-methods", "fp16", "-k", "len128"]
CPU_WORKERS = ["-n", "2", "--qb-device", "cpu", "--qb-methods", "fp16,bf16", "-k", "len128",
               "--qb-time-budget", "0.1"]


def _clean(session: Session) -> None:
    assert "INTERNALERROR" not in session.output and "Traceback" not in session.output, session.explain()


def _stale(report: Path) -> dict[str, str]:
    """Plant a previous run's record and reports, as a passing run leaves them."""
    report.mkdir(parents=True, exist_ok=True)
    files = {"session.json": json.dumps({"environment": {"gpu": "cpu", "model_source": "synthetic:qwen2-tiny"},
                                         "results": [], "partial": False}),
             "summary.md": "## quantbench\n\n✅ **no regressions**\n", "comparison.json": '{"exit_ok": true}'}
    for name, text in files.items():
        (report / name).write_text(text)
    return files


# item 8 and 18: a run leaves no earlier run's record or reports to be read as its own


@pytest.mark.session
def test_a_run_killed_before_its_first_case_leaves_no_stale_session(cache_dir: Path, work: Path,
                                                                     tmp_path: Path, capsys) -> None:
    report = tmp_path / "report"
    _stale(report)
    killed = run_session(cache_dir, work, *ONE, "--qb-report-dir", str(report), "--qbt-die-at", "len128")
    assert killed.code == 9, killed.explain()
    assert sorted(p.name for p in report.iterdir()) == [], "the earlier run's files are gone"
    assert cli.main(["compare", str(report / "session.json")]) == 4
    assert capsys.readouterr().err == f"quantbench compare: no session file at {report / 'session.json'}\n"


@pytest.mark.session
def test_an_exit_4_run_leaves_no_earlier_no_regressions_summary(cache_dir: Path, work: Path,
                                                                tmp_path: Path) -> None:
    report = tmp_path / "report"
    _stale(report)
    session = run_session(cache_dir, work, *ONE, "--qb-report-dir", str(report), "--benchmark-compare",
                          baseline_dir=tmp_path / "no-baselines")
    assert session.code == 4, session.explain()
    assert sorted(p.name for p in report.iterdir()) == ["session.json"]
    assert json.loads((report / "session.json").read_text())["results"], "the new record is this run's"


# item 14: a cache that cannot be written is one line and exit 4


@pytest.mark.session
def test_an_unwritable_cache_is_one_line_and_exit_4(work: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    session = run_session(blocker / "cache", work, *ONE)
    assert session.code == 4, session.explain()
    _clean(session)
    (line,) = session.lines_with("quantbench: cannot write the model cache")
    assert line.endswith(f"({blocker / 'cache' / 'synthetic'}): a part of its path is a file, not a folder; "
                         "nothing was run !"), line  # pytest.exit's own frame


# item 12: no home folder is no longer a plugin-loading crash


NO_HOME = """
import os, pwd, sys
def nobody(uid):
    raise KeyError(uid)
pwd.getpwuid = nobody
os.environ.pop("HOME", None)
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


@pytest.mark.session
@pytest.mark.parametrize("cache", ["given", "default"])
def test_no_home_folder_needs_only_a_cache_dir(tmp_path: Path, cache: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    args = ["benches", "-p", "no:cacheprovider", "--qb-report-dir", str(tmp_path / "r"), *FAST, *ONE]
    if cache == "given":
        args += ["--co", "-q", "--qb-cache-dir", str(tmp_path / "c")]
    proc = subprocess.run([sys.executable, "-c", NO_HOME, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=SESSION_TIMEOUT_S, check=False)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output and "Error while loading plugin" not in output, output
    if cache == "given":
        assert proc.returncode == 0, output
    else:
        assert proc.returncode == 4, output
        assert ("quantbench: the cache folder ~/.cache/quantbench needs a home folder and this process has none "
                "(HOME is unset and the user has no passwd entry): pass --qb-cache-dir or set HOME; nothing was "
                "run") in output


# item 11: -n modes that would measure wrongly are refused


@pytest.mark.parametrize(("args", "message"), [
    (["-n", "2", "--dist", "each", "--qb-device", "cpu"], "quantbench: --dist each runs every case on every worker"),
    (["-n", "2"], "quantbench: -n 2 on a host without a GPU: the workers would share the CPU and slow each other "
                  "down; pass --qb-device cpu to run them anyway"),
])
@pytest.mark.session
def test_a_refused_n_mode_is_one_line_and_exit_4(cache_dir: Path, work: Path,
                                               args: list[str], message: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # a host without a GPU, whatever this one has
    session = run_session(cache_dir, work, *args, *ONE)
    assert session.code == 4, session.explain()
    assert len(session.lines_with(message)) == 1, session.explain()
    assert not (session.report_dir / "session.json").exists()


# item 1: -n workers that cannot write their records do not skip the gate


@pytest.mark.session
def test_a_worker_report_folder_that_is_a_file_is_exit_4(cache_dir: Path, work: Path,
                                                        tmp_path: Path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    (report / "workers").write_text("")
    session = run_session(cache_dir, work, *CPU_WORKERS, "--qb-report-dir", str(report))
    assert session.code == 4, session.explain()
    assert session.lines_with(f"quantbench: cannot write worker records to {report / 'workers'}: "
                              "it is a file, not a folder"), session.explain()


@pytest.mark.session
@pytest.mark.parametrize("update", [False, True])
def test_workers_on_a_full_disk_fail_the_session(cache_dir: Path, work: Path, tmp_path: Path,
                                                 update: bool) -> None:
    folder = tmp_path / "baselines"
    extra = ["--qb-update-baseline"] if update else []
    session = run_session(cache_dir, work, *CPU_WORKERS, "--qbt-full-disk", *extra, baseline_dir=folder)
    assert session.code == 4, session.explain()
    _clean(session)
    assert len(session.lines_with("no space left on device")) == 2, session.explain()  # one per worker
    assert len(session.lines_with("quantbench: no worker's session record was written: nothing judged")) == 1
    assert not folder.exists(), "no baseline from a session whose records were lost"


# item 2: two -n 2 sessions sharing one report folder each judge their own workers


@pytest.mark.session
def test_two_n_sessions_sharing_a_report_folder_do_not_mix(cache_dir: Path, tmp_path: Path) -> None:
    report = tmp_path / "shared-report"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PLUGINS), env.get("PYTHONPATH")) if p)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "GITHUB_STEP_SUMMARY"):
        env.pop(name, None)
    outputs: dict[str, tuple[int, str]] = {}

    def run(name: str, case: str) -> None:
        cmd = [sys.executable, "-m", "pytest", "benches", "-p", "no:cacheprovider", "--benchmark-disable",
               "--qb-cache-dir", str(cache_dir), "--qb-report-dir", str(report),
               "--qb-baseline-dir", str(tmp_path / name), *CPU_WORKERS, "-k", case]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=SESSION_TIMEOUT_S, check=False)
        outputs[case] = (proc.returncode, proc.stdout + proc.stderr)

    threads = [threading.Thread(target=run, args=("a", "len128")), threading.Thread(target=run, args=("b", "len1024"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for case, (code, output) in outputs.items():
        other = "len1024" if case == "len128" else "len128"
        assert code == 0, output[-4000:]
        assert len([line for line in output.splitlines() if line.startswith("worker gw")]) == 2, output[-4000:]
        assert f"eager · prefill-{case[3:]}" in output, output[-4000:]  # its own workers' cases
        assert f"eager · prefill-{other[3:]}" not in output, output[-4000:]  # never the other session's


def test_a_controller_keeps_a_live_controllers_folder_and_removes_a_dead_ones(tmp_path: Path) -> None:
    first, held = start_run_folder(tmp_path)
    second, held2 = start_run_folder(tmp_path)
    assert first != second and first.parent == second.parent == tmp_path / "workers"
    assert first.is_dir() and (first / LOCK).is_file()  # alive: its lock is held
    held.close()  # the first controller ends
    third, held3 = start_run_folder(tmp_path)
    assert not first.exists() and second.is_dir() and third.is_dir()
    held2.close()
    held3.close()


# item 10, live: a method that ran in the baseline and cannot import now fails the gate


@pytest.mark.session
def test_a_method_whose_library_is_gone_fails_the_live_gate(cache_dir: Path, work: Path,
                                                           tmp_path: Path) -> None:
    folder = tmp_path / "baselines"
    update = run_session(cache_dir, work, "--qb-methods", "fp16,nf4", "-k", "len128", "--qb-update-baseline",
                         baseline_dir=folder)
    assert update.code == 0, update.explain()
    assert baseline_file(folder).is_file()
    # A prefill-only session probes the host as well (it used to only with a generate case).
    assert update.data["environment"]["launch_overhead_us"] > 0
    gone = run_session(cache_dir, work, "--qb-methods", "fp16,nf4", "-k", "len128", "--benchmark-compare",
                       "--qb-tolerance", "throughput=0.9", "--qb-tolerance", "latency=0.9",
                       "--qbt-hide-package", "bitsandbytes", baseline_dir=folder)
    assert gone.code == 1, gone.explain()
    assert len(gone.lines_with("lost: nf4 ran in the baseline and cannot run now (skipped: nf4: bitsandbytes "
                               "is not installed")) == 1, gone.explain()
    (outcome,) = gone.lines_with("gate: FAIL")
    assert outcome.startswith("gate: FAIL: nf4 (")
