"""quantbench.files, the write helper every write-to-temp-then-rename site can share: atomic,
locked, umask-honouring, and clean after failures and kills."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from quantbench import files


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_atomic_write_creates_the_folder_and_honours_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "x.json"
    old = os.umask(0o027)
    try:
        files.atomic_write_bytes(path, b"one")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"one"
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert _names(path.parent) == [".x.json.lock", "x.json"]


def test_atomic_write_replaces_and_removes_strays(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    files.atomic_write_bytes(path, b"one")
    stray = tmp_path / ".x.json.dead0001.tmp"
    stray.write_bytes(b"half")
    other = tmp_path / ".y.json.dead0002.tmp"  # another target's temporary file is not ours
    other.write_bytes(b"half")
    files.atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert _names(tmp_path) == [".x.json.lock", ".y.json.dead0002.tmp", "x.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.json"
    files.atomic_write_bytes(path, b"one")

    def boom(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk gone"):
        files.atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"one"
    assert _names(tmp_path) == [".x.json.lock", "x.json"]


def test_locked_is_reentrant_in_one_process(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    with files.locked(path), files.locked(path):
        files.atomic_write_bytes(path, b"inside")  # takes the same lock again
    assert path.read_bytes() == b"inside"
    assert files.lock_path(path) == tmp_path / ".x.json.lock"


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread(),
                    reason="needs SIGTERM in the main thread")
def test_terminable_runs_clean_up_then_hands_sigterm_to_the_previous_handler() -> None:
    seen: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append("handler"))
    try:
        with pytest.raises(InterruptedError, match="interrupted by SIGTERM"):
            with files.terminable():
                try:
                    os.kill(os.getpid(), signal.SIGTERM)
                    for _ in range(1000):  # the handler runs between bytecodes
                        pass
                    seen.append("not interrupted")
                finally:
                    seen.append("clean-up")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == ["clean-up", "handler"]


def test_check_writable_dir_and_describe(tmp_path: Path) -> None:
    files.check_writable_dir(tmp_path / "new" / "reports")
    assert _names(tmp_path / "new" / "reports") == []
    a_file = tmp_path / "f"
    a_file.write_text("")
    with pytest.raises(OSError) as info:
        files.check_writable_dir(a_file)
    assert files.describe(info.value) == "it is a file, not a folder"
    with pytest.raises(OSError) as info:
        files.check_writable_dir(a_file / "below")
    assert files.describe(info.value) == "a part of its path is a file, not a folder"
    assert files.describe(PermissionError(13, "Permission denied")) == "permission denied"
