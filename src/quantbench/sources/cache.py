"""The model cache's checkpoint folders: built under a temporary name, checked on every use.

* **Built whole or not at all.** ``building_dir(target)`` gives a folder to build ``target`` in,
  inside ``<parent>/.building-<random>/`` beside it, renamed over ``target`` only once the build
  ends without an error; SIGTERM removes the temporary folder before the process ends.
* **Leftovers of killed builds are removed.** A build holds an ``flock`` on its temporary
  folder's ``.lock`` while it runs; the next build in the same parent removes every temporary
  folder whose lock nobody holds (its builder was SIGKILLed: a 14B build leaves ~30 GB), and
  ``tmp*`` folders of older quantbench versions once they are a day old.
* **Checked on every use.** The finished folder carries ``quantbench-manifest.json``: each
  file's size and SHA-256. ``damage(folder)`` compares sizes at once, and re-hashes a file only
  when its size or modification time differs from the manifest's (a rewritten file), so a
  truncated or overwritten checkpoint is named, with the advice to delete the folder, instead
  of failing deep inside safetensors or being measured as garbage.
* **Readable by the cache's other users.** Files get ``0o666`` and folders ``0o777`` less the
  umask (transformers writes ``model.safetensors`` as ``0o600``).
* **Pinned where the cache is not trusted.** The manifest sits beside the files it describes, so
  whoever can rewrite a checkpoint can rewrite its manifest too: a cached qwen2-tiny with a layer
  removed, manifest remade, passed a later gate as "5 improvements". With ``QUANTBENCH_CACHE_PINS``
  naming a file outside the cache (the gate's workflow keeps it where pull requests cannot write,
  docs/security.md), every folder built records each file's SHA-256 there, and every use hashes
  every file afresh and compares them, and the set of files, with those pins: a folder that
  differs is ``DamagedCache``; one without pins is built again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from quantbench import compat
from quantbench.files import abandoned, atomic_write_bytes, locked, terminable

MANIFEST = "quantbench-manifest.json"
BUILDING = ".building-"
LOCK = ".lock"
LEGACY_AGE_S = 24 * 3600  # a ``tmp*`` build folder of an older version this old is dead
PINS_ENV = "QUANTBENCH_CACHE_PINS"  # a file of SHA-256 pins kept outside the cache, when set


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(folder: Path) -> dict[str, dict]:
    """Give every file and folder under ``folder`` the umask's permissions, then record each
    file's size, modification time and SHA-256 in ``MANIFEST``; returns those entries."""
    mask = _umask()
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)
    entries = {}
    for path in _files(folder):
        stat = path.stat()
        entries[path.relative_to(folder).as_posix()] = {
            "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256(path)}
    manifest = folder / MANIFEST
    manifest.write_text(json.dumps({"files": entries}, indent=1, sort_keys=True) + "\n")
    manifest.chmod(0o666 & ~mask)
    return entries


def pins_file() -> Path | None:
    """The pins file ``QUANTBENCH_CACHE_PINS`` names (``None``: the manifest alone is checked)."""
    value = os.environ.get(PINS_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _read_pins(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise DamagedCache(f"cache pins file {path} ({PINS_ENV}) is unreadable: {exc}; delete it "
                           "and rerun to build the cache afresh") from None
    pins = data.get("pins") if isinstance(data, dict) else None
    if not isinstance(pins, dict):
        raise DamagedCache(f"cache pins file {path} ({PINS_ENV}) holds no 'pins' object; delete "
                           "it and rerun to build the cache afresh")
    return pins


def _pin(folder: Path, entries: dict[str, dict]) -> None:
    """Record ``folder``'s files and their SHA-256 in the pins file, under its lock."""
    path = pins_file()
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path):
        pins = _read_pins(path)
        pins[str(folder.resolve())] = {name: entry["sha256"] for name, entry in entries.items()}
        atomic_write_bytes(path, (json.dumps({"pins": pins}, indent=1, sort_keys=True) + "\n").encode())


def _unlike_pins(folder: Path, pinned: dict[str, str]) -> str | None:
    """How ``folder``'s files differ from its pins (every file hashed afresh), or ``None``."""
    present = {p.relative_to(folder).as_posix(): p for p in _files(folder)}
    extra = sorted(set(present) - set(pinned))
    if extra:
        return f"{extra[0]} is not among the pinned files"
    for name in sorted(pinned):
        if name not in present:
            return f"{name} is missing"
        if sha256(present[name]) != pinned[name]:
            return f"{name}'s SHA-256 differs from its pin"
    return None


def damage(folder: Path) -> str | None:
    """Why the cached ``folder`` cannot be trusted (``None`` when every file matches its
    manifest); ``"no manifest"`` for a folder built before manifests (rebuild it)."""
    try:
        entries = json.loads((folder / MANIFEST).read_text())["files"]
    except FileNotFoundError:
        return "no manifest"
    except (OSError, ValueError, KeyError, TypeError):
        return f"its {MANIFEST} is unreadable"
    for name, entry in sorted(entries.items()):
        path = folder / name
        try:
            stat = path.stat()
        except OSError:
            return f"{name} is missing"
        if stat.st_size != entry["size"]:
            return f"{name} has {stat.st_size} bytes, its manifest {entry['size']}"
        if stat.st_mtime_ns != entry["mtime_ns"] and sha256(path) != entry["sha256"]:
            return f"{name}'s SHA-256 differs from its manifest's"
    return None


def check(folder: Path) -> bool:
    """``True`` when ``folder`` is a finished build that matches its manifest (its pins, with
    ``QUANTBENCH_CACHE_PINS``); ``False`` when it is absent, predates manifests or has no pins
    (build it); ``DamagedCache`` when it is damaged."""
    if not folder.is_dir():
        return False
    pins = pins_file()
    if pins is not None:
        pinned = _read_pins(pins).get(str(folder.resolve()))
        if pinned is None:
            return False  # not built under these pins: build it (``building_dir`` replaces it)
        why = _unlike_pins(folder, pinned)
        if why is not None:
            raise DamagedCache(f"cached checkpoint {folder} differs from the hashes pinned in {pins} "
                               f"({why}): it was changed after it was built; delete that folder "
                               "and rerun to rebuild it")
        return True
    why = damage(folder)
    if why == "no manifest":
        return False
    if why is not None:
        raise DamagedCache(f"cached checkpoint {folder} is damaged ({why}): delete that folder "
                           "and rerun to rebuild it")
    return True


class DamagedCache(ValueError):
    """A cached checkpoint whose files differ from its manifest; the message names the folder."""


def remove_stale_builds(parent: Path) -> list[Path]:
    """Remove the temporary folders of killed builds in ``parent``; returns what was removed."""
    removed = []
    for folder in sorted(parent.glob(f"{BUILDING}*")) + sorted(parent.glob("tmp*")):
        if folder.is_dir() and abandoned(folder, LOCK, LEGACY_AGE_S):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def building_dir(target: Path) -> Iterator[Path]:
    """A folder to build ``target`` in (not yet created; its parent is scratch space), renamed
    over ``target`` with a manifest once the block ends without an error (see the module
    docstring). A crash never leaves a half-built folder under the name a later session trusts,
    and the temporary folder is removed either way."""
    import fcntl

    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(target.parent)
    with terminable():
        tmp = Path(tempfile.mkdtemp(prefix=BUILDING, dir=target.parent))
        try:
            with open(tmp / LOCK, "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                out = tmp / "out"
                try:
                    yield out
                except Exception as exc:  # safetensors' full disk is not an OSError: make it one
                    error = compat.os_error_of(exc, str(target.parent))
                    if error is None:
                        raise
                    raise error from exc
                entries = write_manifest(out)
                if target.exists():
                    shutil.rmtree(target)
                os.replace(out, target)
                _pin(target, entries)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
