"""The model cache on bad days (issue 22, items 16, 17 and 22): a truncated or overwritten
checkpoint is named with the advice to delete its folder (a SHA-256 manifest is checked on use),
a build killed by SIGKILL or SIGTERM leaves nothing the next build keeps, and the cache's files
are readable by its other users (0644 under umask 022). The synthetic builds are the tiny CPU
model's (about a second each)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quantbench.sources.cache import DamagedCache, building_dir
from quantbench.sources import materialize_synthetic, synthetic_folder

TINY = "qwen2-tiny"


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _build(cache: Path) -> Path:
    return materialize_synthetic(TINY, cache, 0, "cpu")


def test_cache_files_honour_the_umask(tmp_path: Path, umask_022: None) -> None:
    folder = _build(tmp_path)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert modes["model.safetensors"] == 0o644, modes  # transformers writes it 0600
    assert set(modes.values()) == {0o644}, modes
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


@pytest.mark.parametrize("how", ["truncated", "same-size garbage"])
def test_a_damaged_checkpoint_is_named_with_the_advice_to_delete_it(tmp_path: Path, how: str) -> None:
    folder = _build(tmp_path)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    if how == "truncated":
        weights.write_bytes(data[: len(data) // 2])
        why = f"model.safetensors has {len(data) // 2} bytes, its manifest {len(data)}"
    else:
        weights.write_bytes(data[:-64] + b"\x7f" * 64)  # NaN-ish tail, same size
        why = "model.safetensors's SHA-256 differs from its manifest's"
    with pytest.raises(DamagedCache) as exc:
        _build(tmp_path)
    assert str(exc.value) == (f"cached checkpoint {folder} is damaged ({why}): delete that folder and rerun to "
                              "rebuild it")
    assert weights.stat().st_size in (len(data), len(data) // 2), "nothing is rebuilt over the user's folder"


def test_a_folder_from_before_manifests_is_rebuilt(tmp_path: Path) -> None:
    folder = _build(tmp_path)
    (folder / "quantbench-manifest.json").unlink()
    assert _build(tmp_path) == folder and (folder / "quantbench-manifest.json").is_file()


KILLED_BUILD = """
import os, sys, time
from pathlib import Path
from quantbench.sources.cache import building_dir
with building_dir(Path(sys.argv[1])) as out:
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"x" * 1000)
    print("building", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_builds_folder_is_removed_by_the_next_build(tmp_path: Path, sig: int) -> None:
    parent = tmp_path / "synthetic"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(parent / "a-seed0")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "building"
    (left,) = [p for p in parent.iterdir()]  # the live build's folder
    with building_dir(parent / "b-seed0") as out:  # a build beside a live one keeps it
        out.mkdir()
    assert left.exists()
    proc.send_signal(sig)
    proc.wait(timeout=30)
    proc.stdout.close()
    with building_dir(parent / "c-seed0") as out:
        out.mkdir()
    assert sorted(p.name for p in parent.iterdir()) == ["b-seed0", "c-seed0"]


def test_an_old_versions_tmp_folder_is_removed_once_a_day_old(tmp_path: Path) -> None:
    parent = tmp_path / "synthetic"
    fresh, old = parent / "tmpfresh1", parent / "tmpold123"
    for folder in (fresh, old):
        (folder / "out").mkdir(parents=True)
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    with building_dir(parent / "x") as out:
        out.mkdir()
    assert sorted(p.name for p in parent.iterdir()) == ["tmpfresh1", "x"]


def test_the_synthetic_folder_name_is_unchanged() -> None:
    assert synthetic_folder(Path("/c"), TINY, 0, "cpu") == Path("/c/synthetic/qwen2-tiny-seed0")


def test_a_damaged_awq_checkpoint_is_named(tmp_path: Path) -> None:
    pytest.importorskip("awq")
    from quantbench.methods import awq
    from quantbench.methods.base import LoadRequest
    from quantbench.sources import ModelSource

    source = ModelSource(f"synthetic:{TINY}", "synthetic", str(_build(tmp_path)))
    req = LoadRequest(source=source, device="cpu", cache_dir=tmp_path, seed=0)
    folder, reused = awq.cached_checkpoint(req)
    assert not reused and (folder / "quantbench-manifest.json").is_file()
    (weights,) = folder.glob("*.safetensors")
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(DamagedCache, match=rf"^cached checkpoint {folder} is damaged \({weights.name} has 100 "):
        awq.prepare(req)


def test_a_full_disk_during_a_build_is_an_os_error_naming_the_cache(tmp_path: Path) -> None:
    from safetensors import SafetensorError

    target = tmp_path / "synthetic" / "x-seed0"
    with pytest.raises(OSError) as exc:
        with building_dir(target) as out:
            out.mkdir()
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    assert (exc.value.errno, exc.value.strerror, exc.value.filename) == (28, "No space left on device",
                                                                          str(target.parent))
    assert list(target.parent.iterdir()) == [], "the half-built folder is gone"
