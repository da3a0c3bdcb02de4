"""The types every method shares (what it needs to load, what it gives back, how it fails) and
the one way to give a freed model's device memory back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from quantbench.sources.model import ModelSource


class LoadError(RuntimeError):
    """A method that could not be loaded; the message is the one-line reason."""


class Unavailable(Exception):
    """A method that cannot run here (a library missing, no GPU); the message is the skip reason."""


@dataclass(frozen=True)
class LoadRequest:
    """What a method needs to load: the source, the device and where caches live."""

    source: ModelSource
    device: str
    cache_dir: Path
    awq_source: ModelSource | None = None
    seed: int = 0


@dataclass
class LoadedModel:
    """A model ready to run, with what the report must say about it."""

    method: str
    model: Any
    dtype: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Method:
    """A registered method: the packages it imports, its loader, where it can run."""

    name: str
    packages: tuple[str, ...]
    load: Callable[[LoadRequest], LoadedModel]
    cpu_ok: bool = True
    cuda_packages: tuple[str, ...] = ()
    # One-off work before loading (AWQ quantization), kept out of the weights measurement.
    prepare: Callable[[LoadRequest], list[str]] | None = None
    # The least CUDA compute capability the method's kernels need (FP8: 8.9), if any.
    min_capability: tuple[int, int] | None = None
    # The half-precision dtype its model loads in on a GPU ("fp16" or "bf16"): the activations'.
    half: str = "fp16"
    # Why its decode step cannot be captured as a CUDA graph, if it cannot: a failed capture in
    # the graph modes is then a skip with the capture error, not a failure of the method.
    uncapturable: str | None = None
