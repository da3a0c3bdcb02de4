"""Baseline writes that survive concurrency and kills (issue 15, items 7, 8, 11 and history names).

Updates of one baseline are serialised by a file lock with the read-modify-write inside it, so
no write that reported success is lost; a SIGTERM mid-write removes the temporary file, a stray
one left by a SIGKILL is removed by the next write, files honour the umask, and history names sort
in the order they were written.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from quantbench.store import baseline as bl
from quantbench.store.baseline import Baseline, baseline_from_results, load_baseline, write_baseline
from quantbench.results import CaseResult, Metric
from quantbench.config import SCENARIOS


def _baseline(value: float) -> Baseline:
    tps = Metric("decode_tps", "tok/s", value, value - 1, value + 1, 9, True, 0.01, "converged")
    return baseline_from_results(
        [CaseResult("default", "eager", "generate-bs1", "fp16", "float16", {"decode_tps": tps})],
        gpu="cpu", model_source="synthetic:qwen2-tiny", scenario=SCENARIOS["default"].to_dict(),
        environment={}, provenance={"kind": "measured"})


def _median(path: Path) -> float:
    return load_baseline(path).results["eager/generate-bs1"]["fp16"]["decode_tps"].median


def _files(folder: Path) -> list[str]:
    """Every file under ``folder`` but the lock files, which stay beside what they guard."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and not p.name.endswith(".lock"))


# item 11: files honour the umask


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_baseline_and_history_honour_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        path = tmp_path / "m.json"
        write_baseline(path, _baseline(100.0))
        kept = write_baseline(path, _baseline(110.0))
    finally:
        os.umask(old)
    assert kept is not None
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~umask)
    assert oct(kept.stat().st_mode & 0o777) == oct(0o666 & ~umask)


# also: history names sort in the order they were written


def test_history_names_sort_in_write_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bl, "_utc_stamp", lambda: "20250101T000000Z")
    path = tmp_path / "m.json"
    values = [100.0 + i for i in range(13)]
    for value in values:
        write_baseline(path, _baseline(value))
    kept = sorted((tmp_path / "history").glob("m.*.json"))
    assert [_median(p) for p in kept] == values[:-1]
    assert kept[0].name == "m.20250101T000000Z.json"
    assert kept[1].name == "m.20250101T000000Z_0001.json"


# item 8: kills during the write


def _killed_writer(tmp_path: Path, sig: signal.Signals) -> subprocess.CompletedProcess:
    """A process that stores a baseline, then is killed by ``sig`` in the middle of its update
    (the new file written, about to be renamed over the old one)."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_baseline_writes import _baseline
        from quantbench.store.baseline import write_baseline
        path = {str(tmp_path / "m.json")!r}
        write_baseline(path, _baseline(100.0))
        os.replace = lambda src, dst: os.kill(os.getpid(), {int(sig)})
        write_baseline(path, _baseline(120.0))
        print("not killed")
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_mid_write_removes_the_temp_file_and_still_terminates(tmp_path: Path) -> None:
    proc = _killed_writer(tmp_path, signal.SIGTERM)
    assert proc.returncode == -signal.SIGTERM, proc.stdout + proc.stderr
    assert "not killed" not in proc.stdout
    assert _files(tmp_path) == ["m.json"], "no temporary file and no history copy is left"
    assert _median(tmp_path / "m.json") == 100.0


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_a_stray_temp_from_sigkill_is_removed_by_the_next_write(tmp_path: Path) -> None:
    proc = _killed_writer(tmp_path, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    strays = [name for name in _files(tmp_path) if name.endswith(".tmp")]
    assert len(strays) == 1 and strays[0].startswith(".m.json."), _files(tmp_path)
    assert _median(tmp_path / "m.json") == 100.0
    write_baseline(tmp_path / "m.json", _baseline(130.0))
    assert [name for name in _files(tmp_path) if name.endswith(".tmp")] == []
    assert _median(tmp_path / "m.json") == 130.0


# item 7: concurrent updates lose nothing


def _update_many(folder: str, worker: int, count: int, barrier: object, results: object) -> None:
    """One process's updates: distinct values, each reported once its write returned."""
    barrier.wait()  # type: ignore[attr-defined]
    done: list[float | str] = []
    try:
        for i in range(count):
            value = 1000.0 * (worker + 1) + i
            write_baseline(Path(folder) / "m.json", _baseline(value))
            done.append(value)
    except Exception as exc:  # reported to the test, which fails on it
        done.append(f"{type(exc).__name__}: {exc}")
    results.put(done)  # type: ignore[attr-defined]


def test_concurrent_updates_keep_every_reported_write(tmp_path: Path) -> None:
    workers, count = 4, 6
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_update_many, args=(str(tmp_path), w, count, barrier, results))
             for w in range(workers)]
    for proc in procs:
        proc.start()
    reported = [v for _ in procs for v in results.get(timeout=120)]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert not [v for v in reported if isinstance(v, str)], reported
    assert len(reported) == workers * count
    stored = [tmp_path / "m.json", *sorted((tmp_path / "history").glob("m.*.json"))]
    found = [_median(p) for p in stored]
    assert sorted(found) == sorted(reported), "every reported write is the file or one history copy"
    assert [name for name in _files(tmp_path) if name.endswith(".tmp")] == []
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["schema"] == bl.SCHEMA
