"""calibrate's bad inputs (issue 15, item 12): unusable values are one line and exit 4, a session
given twice is refused, sessions that disagree on the host probe or ran far slower than the others
are named, and an existing baseline is not shrunk without ``--force``."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from quantbench.commands import calibrate
from quantbench.store.baseline import baseline_path, load_baseline
from fakes import GPU, MODEL, decode_metric, session_file, ttft_metric


def _run(paths: list[Path | str], out: Path, *extra: str) -> int:
    return calibrate.main([*map(str, paths), "--baseline-dir", str(out), *extra])


def _edit_decode(path: Path, value: Any) -> None:
    text = path.read_text()
    data = json.loads(text)
    data["results"][0]["metrics"]["decode_tps"]["median"] = value
    path.write_text(json.dumps(data))


def _two(tmp_path: Path) -> list[Path]:
    return [session_file(tmp_path, "run1", decode_metric(100.0, 99.0, 101.0, 5, 0.01), ttft_metric(20.0)),
            session_file(tmp_path, "run2", decode_metric(110.0, 109.0, 111.0, 5, 0.01), ttft_metric(21.0))]


@pytest.mark.parametrize(("value", "shown"), [(math.nan, "NaN"), ("915", "'915'"), (None, "null"),
                                              (-100.0, "-100.0")])
def test_unusable_median_is_one_line_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture,
                                            value: Any, shown: str) -> None:
    paths = _two(tmp_path)
    _edit_decode(paths[1], value)
    assert _run(paths, tmp_path / "b") == 4
    err = capsys.readouterr().err
    assert err == (f"quantbench calibrate: session file {paths[1]} is unusable: results[0].metrics.decode_tps.median: "
                   f"expected a finite number > 0, got {shown}\n")
    assert not (tmp_path / "b").exists()


def test_the_same_session_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    paths = _two(tmp_path)
    again = tmp_path / "run1" / ".." / "run1" / "session.json"
    assert _run([paths[0], paths[1], again], tmp_path / "b") == 4
    assert capsys.readouterr().err == (
        f"quantbench calibrate: {again} is the same file as {paths[0]}: each session counts once\n")
    assert not (tmp_path / "b").exists()


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_a_symlink_to_a_given_session_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    paths = _two(tmp_path)
    link = tmp_path / "link.json"
    link.symlink_to(paths[1])
    assert _run([*paths, link], tmp_path / "b") == 4
    assert "is the same file as" in capsys.readouterr().err


def test_a_session_far_slower_than_the_others_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    paths = [session_file(tmp_path, "run1", decode_metric(910.0, 900.0, 920.0, 5, 0.01), ttft_metric(2.0)),
             session_file(tmp_path, "run2", decode_metric(93.0, 90.0, 95.0, 5, 0.01), ttft_metric(20.0)),
             session_file(tmp_path, "run3", decode_metric(905.0, 900.0, 910.0, 5, 0.01), ttft_metric(2.1))]
    assert _run(paths, tmp_path / "b") == 0
    out = capsys.readouterr().out.splitlines()
    slow = [line for line in out if "far slower" in line]
    assert slow == [f"ran far slower than the others (contention?): {paths[1]}: its throughput medians are "
                    f"0.10x the other sessions' (below 1/3); leave it out or rerun it"]


def test_sessions_at_similar_speed_are_not_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _run(_two(tmp_path), tmp_path / "b") == 0
    assert "far slower" not in capsys.readouterr().out


def test_sessions_disagreeing_on_the_host_probe_are_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    paths = _two(tmp_path)
    for path, us in zip(paths, (7.0, 12.0)):
        data = json.loads(path.read_text())
        data["environment"]["launch_overhead_us"] = us
        path.write_text(json.dumps(data))
    assert _run(paths, tmp_path / "b") == 0
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("host probe")] == [
        f"host probe differs between sessions: 7.0 us per kernel launch ({paths[0]}) to 12.0 us ({paths[1]}), "
        "more than 25 % apart: eager batch-1 figures may mix hosts"]


def test_shrinking_an_existing_baseline_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "b"
    assert _run(_two(tmp_path), out) == 0
    path = baseline_path(out, GPU, MODEL)
    before = path.read_bytes()
    capsys.readouterr()
    fewer = _two(tmp_path / "later")
    assert _run(fewer, out, "--exclude-metric", "ttft_ms", "--exclude-metric", "weights_gb") == 4
    assert capsys.readouterr().err == (
        f"quantbench calibrate: {path} holds 3 metrics; the new baseline would drop 2 of them "
        "(eager/generate-bs1 fp16 ttft_ms, eager/generate-bs1 fp16 weights_gb): pass --force to replace it\n")
    assert path.read_bytes() == before
    assert _run(fewer, out, "--exclude-metric", "ttft_ms", "--exclude-metric", "weights_gb", "--force") == 0
    assert sorted(load_baseline(path).results["eager/generate-bs1"]["fp16"]) == ["decode_tps"]
    assert "dropped 2 metric(s) of the previous baseline (--force)" in capsys.readouterr().out


def test_growing_an_existing_baseline_needs_no_force(tmp_path: Path) -> None:
    out = tmp_path / "b"
    assert _run(_two(tmp_path), out, "--exclude-metric", "ttft_ms") == 0
    assert _run(_two(tmp_path / "later"), out) == 0
    assert "ttft_ms" in load_baseline(baseline_path(out, GPU, MODEL)).results["eager/generate-bs1"]["fp16"]
