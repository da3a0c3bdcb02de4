"""Writing files that others read: atomically, under a lock, with the user's permissions.

``atomic_write_bytes`` writes beside the target (``.<name>.<random>.tmp``, so the rename never
crosses file systems), fsyncs, renames over the target in one step and fsyncs the folder: a reader
sees the old file or the new one, never half of each. The file gets ``0o666`` less the umask, like
any file the user creates (``tempfile.mkstemp`` would make it ``0o600``, unreadable to a CI user
other than the writer). A SIGTERM during the write removes the temporary file and then terminates
the process as it would have; a temporary file left by a SIGKILL is removed by the next locked write
of the same target.

``locked(path)`` serialises writers of one target across processes (``filelock``, lock file
``.<name>.lock`` beside it) so a read-modify-write inside it loses nothing; it is re-entrant within
a process, so a locked write can run inside a caller's ``locked`` block.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from pathlib import Path
from typing import Iterator

LOCK_TIMEOUT_S = 600.0
_locks: dict[str, object] = {}
_locks_guard = threading.Lock()


class Terminated(BaseException):
    """Raised inside ``terminable()`` when SIGTERM arrives, so clean-up code runs first."""


def lock_path(path: Path | str) -> Path:
    path = Path(path)
    return path.parent / f".{path.name}.lock"


def _lock_for(path: Path) -> object:
    from filelock import FileLock

    key = os.path.abspath(lock_path(path))
    with _locks_guard:
        if key not in _locks:
            _locks[key] = FileLock(key, timeout=LOCK_TIMEOUT_S)
        return _locks[key]


@contextlib.contextmanager
def locked(path: Path | str) -> Iterator[None]:
    """Hold the inter-process lock of ``path`` (its folder must exist). Waiting longer than
    ``LOCK_TIMEOUT_S`` raises ``TimeoutError`` (an ``OSError``), naming the lock file."""
    with _lock_for(Path(path)):  # type: ignore[attr-defined]
        yield


@contextlib.contextmanager
def terminable() -> Iterator[None]:
    """Inside, SIGTERM raises ``Terminated`` so ``finally`` and ``except`` clean-ups run; on the
    way out the signal is delivered again to the handler that was there before (by default: the
    process ends as killed by SIGTERM; if a handler lets it live on, ``InterruptedError`` says the
    work was cut short). Outside the main thread, or where SIGTERM is ignored, nothing changes."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_IGN:
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if not received:
            received.append(signum)
            raise Terminated()

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except Terminated:
        pass  # cleaned up by the code inside; the signal is delivered again below
    finally:
        signal.signal(signal.SIGTERM, previous)
    if received:
        signal.raise_signal(signal.SIGTERM)
        raise InterruptedError("interrupted by SIGTERM")


def temp_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_strays(path: Path | str) -> list[Path]:
    """Remove temporary files of ``path`` left by a killed writer; call only under ``locked(path)``
    (another writer's temporary file is then impossible). Returns what was removed."""
    path = Path(path)
    removed = []
    for stray in path.parent.glob(f"{temp_prefix(path)}*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            stray.unlink()
            removed.append(stray)
    return removed


def sync_dir(folder: Path) -> None:
    """fsync a folder so a rename in it survives a crash (where the platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def replace_bytes(path: Path | str, data: bytes) -> None:
    """The atomic write without the lock: for a caller that holds ``locked(path)`` already or
    writes a name no one else writes. The temporary file is removed on any failure and on SIGTERM."""
    path = Path(path)
    tmp = path.parent / f"{temp_prefix(path)}{secrets.token_hex(4)}.tmp"
    with terminable():
        try:
            _write_new(tmp, data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    sync_dir(path.parent)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically under its lock, creating the folder if needed and
    removing temporary files a killed writer left (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path):
        remove_strays(path)
        replace_bytes(path, data)


def abandoned(folder: Path, lock_name: str, age_s: float | None = None) -> bool:
    """Whether the process that owned ``folder`` is gone: nobody holds an ``flock`` on its
    ``lock_name`` (a live owner holds it until it ends, however it ends), or, with no lock file,
    the folder is older than ``age_s`` (``None``: never)."""
    import fcntl
    import time

    try:
        handle = open(folder / lock_name, "r+")
    except FileNotFoundError:
        try:
            return age_s is not None and time.time() - folder.stat().st_mtime > age_s
        except OSError:
            return False
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a live owner holds it
        return True


def check_writable_dir(folder: Path | str) -> None:
    """Create ``folder`` if needed and prove a file can be written there; ``OSError`` if not."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".quantbench-probe.{secrets.token_hex(4)}.tmp"
    _write_new(probe, b"")
    probe.unlink()


def describe(exc: OSError) -> str:
    """An ``OSError`` as a short reason: ``permission denied``, ``it is a file, not a folder``."""
    if isinstance(exc, FileExistsError):
        return "it is a file, not a folder"
    if isinstance(exc, NotADirectoryError):
        return "a part of its path is a file, not a folder"
    if exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc)
