"""The gate's model cache is checked against hashes the trusted side wrote, not only against the
manifest beside the files (issue 44, item 1; ``sources.cache``, ``QUANTBENCH_CACHE_PINS``): a
checkpoint rewritten together with its manifest passed a later gate as "5 improvements"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantbench.sources import cache


def build(target: Path, weights: bytes = b"weights") -> Path:
    with cache.building_dir(target) as out:
        out.mkdir()
        (out / "model.safetensors").write_bytes(weights)
        (out / "config.json").write_text('{"num_hidden_layers": 2}')
    return target


def rewrite_with_manifest(folder: Path) -> None:
    """What a job that shares the cache can do: change a file, then remake the manifest."""
    (folder / "config.json").write_text('{"num_hidden_layers": 1}')
    cache.write_manifest(folder)


@pytest.fixture
def pins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "trusted" / "pins.json"
    monkeypatch.setenv(cache.PINS_ENV, str(path))
    return path


def test_without_pins_a_rewritten_manifest_is_believed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(cache.PINS_ENV, raising=False)
    folder = build(tmp_path / "c" / "tiny")
    rewrite_with_manifest(folder)
    assert cache.check(folder)  # why the gate keeps pins outside the cache


def test_a_build_records_every_files_hash_outside_the_cache(tmp_path: Path, pins: Path) -> None:
    folder = build(tmp_path / "c" / "tiny")
    recorded = json.loads(pins.read_text())["pins"][str(folder.resolve())]
    assert recorded == {"model.safetensors": cache.sha256(folder / "model.safetensors"),
                        "config.json": cache.sha256(folder / "config.json")}
    assert cache.check(folder)


def test_a_checkpoint_rewritten_with_its_manifest_is_refused_in_one_line(tmp_path: Path,
                                                                        pins: Path) -> None:
    folder = build(tmp_path / "c" / "tiny")
    rewrite_with_manifest(folder)
    assert cache.damage(folder) is None  # the manifest beside it agrees
    with pytest.raises(cache.DamagedCache) as exc:
        cache.check(folder)
    message = str(exc.value)
    assert "\n" not in message and f"differs from the hashes pinned in {pins}" in message
    assert "config.json's SHA-256 differs from its pin" in message


def test_an_added_file_is_refused_even_with_the_same_mtime(tmp_path: Path, pins: Path) -> None:
    folder = build(tmp_path / "c" / "tiny")
    (folder / "model.safetensors.index.json").write_text("{}")  # would redirect the loader
    cache.write_manifest(folder)
    with pytest.raises(cache.DamagedCache, match="model.safetensors.index.json is not among the pinned"):
        cache.check(folder)


def test_a_folder_the_pins_do_not_know_is_built_again(tmp_path: Path, monkeypatch, pins: Path) -> None:
    monkeypatch.delenv(cache.PINS_ENV)
    folder = build(tmp_path / "c" / "tiny")  # built by someone without the pins
    monkeypatch.setenv(cache.PINS_ENV, str(pins))
    assert cache.check(folder) is False  # so materialize builds it afresh, and pins it
    build(folder)
    assert cache.check(folder)


def test_an_unreadable_pins_file_is_one_line(tmp_path: Path, pins: Path) -> None:
    folder = build(tmp_path / "c" / "tiny")
    pins.write_text("not json")
    with pytest.raises(cache.DamagedCache, match="is unreadable") as exc:
        cache.check(folder)
    assert "\n" not in str(exc.value)
