"""The environment a result was measured in: device, driver, library versions, commit, date.

A baseline is only meaningful next to these: an upgrade of any of them is what the gate exists
to judge.
"""

from __future__ import annotations

import datetime as _dt
import functools
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


PACKAGES = ("torch", "transformers", "accelerate", "bitsandbytes", "autoawq", "torchao", "gguf",
            "triton", "pytest-benchmark", "quantbench")


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The host CPU's model name, from ``/proc/cpuinfo`` (``None`` where there is none)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return None


def detect_device(requested: str) -> str:
    """``cuda`` or ``cpu``: ``auto`` picks CUDA when a GPU is visible."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but no CUDA GPU is visible")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(0) if device == "cuda" else "cpu"


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _driver() -> str | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        return str(pynvml.nvmlSystemGetDriverVersion())
    except Exception:  # NVML is optional
        return None


def environment(device: str, root: Path) -> dict[str, Any]:
    """Everything that identifies where and with what a session ran, dated now. The session
    file is rewritten after every case, so the rest (a git subprocess, NVML, package metadata)
    is looked up once per process."""
    return {**_machine(device, root),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


@functools.lru_cache(maxsize=None)
def _machine(device: str, root: Path) -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {
        "device": device,
        "gpu": device_name(device),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "host_cpu": cpu_model(),
        "commit": _git_commit(root),
        "versions": {name: _version(name) for name in PACKAGES},
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        env.update(
            gpu_memory_gb=round(props.total_memory / 1e9, 1),
            cuda=torch.version.cuda,
            driver=_driver(),
            capability=".".join(map(str, torch.cuda.get_device_capability(0))),
        )
    else:
        env["cpu_count"] = torch.get_num_threads()
    return env
