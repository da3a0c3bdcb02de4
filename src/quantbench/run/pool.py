"""Holds at most one loaded model, loads each method once, and frees before the next loads.

Memory readings of one method must not carry another's tensors, so acquiring a new method first
drops every reference to the current one, collects garbage and empties the CUDA cache. A load
failure (a missing library at run time, CUDA out-of-memory, a bad checkpoint) is remembered with
its one-line reason, so that method's other benches error with it without retrying the load.
Each model loaded for the session's own benches passes through ``after_load`` (the runner's plugin
callback) once its load is recorded; the models loaded beside it for interleaved rounds do not.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from quantbench.device_memory import free_device_memory
from quantbench.exits import one_line
from quantbench.run.memory import MemoryProbe, tensor_bytes
from quantbench.methods import METHODS, LoadedModel, LoadError, LoadRequest
from quantbench.session import Failures


@dataclass
class LoadRecord:
    """What loading one method cost and left behind."""

    seconds: float
    prepare_seconds: float  # one-off work before loading (AWQ quantization or cache check)
    weights_bytes: int  # device allocation after load minus before (RSS delta on the CPU)
    tensor_bytes: int  # the model's own tensors, counted exactly
    notes: list[str] = field(default_factory=list)


def as_loaded(loaded: LoadedModel) -> LoadedModel:
    """The default ``after_load``: the model as it loaded."""
    return loaded


class ModelPool:
    """Loads methods on demand, keeping exactly one resident; a load failure goes into
    ``failures``, the session's own when it hands one over."""

    def __init__(self, request: LoadRequest, memory: MemoryProbe,
                 loaders: dict[str, Callable[[LoadRequest], LoadedModel]] | None = None,
                 failures: Failures | None = None,
                 after_load: Callable[[LoadedModel], LoadedModel] = as_loaded) -> None:
        self.request = request
        self.memory = memory
        self.after_load = after_load
        self.loaders = loaders or {name: m.load for name, m in METHODS.items()}
        self.preparers = {name: m.prepare for name, m in METHODS.items() if m.prepare} if loaders is None else {}
        self.current: LoadedModel | None = None
        self.loads: Counter[str] = Counter()
        self.failures = Failures() if failures is None else failures
        self.records: dict[str, LoadRecord] = {}
        self.events: list[tuple[str, str]] = []  # ("load" | "unload", method), in order

    def acquire(self, method: str) -> LoadedModel:
        """The loaded ``method``, loading it (after freeing the resident one) if needed."""
        if self.current is not None and self.current.method == method:
            return self.current
        self.unload()
        failed = self.failures.load_failure(method)
        if failed is not None:
            raise LoadError(failed)
        start = time.perf_counter()
        try:
            prepare = self.preparers.get(method)
            notes = prepare(self.request) if prepare else []
            prepared = time.perf_counter()
            free_device_memory()  # a fixture cache may have held the last model until now
            before = self.memory.allocated()
            loaded = self.loaders[method](self.request)
        except Exception as exc:
            free_device_memory()
            reason = one_line(exc)
            if "OutOfMemory" in type(exc).__name__ or "out of memory" in str(exc).lower():
                reason = f"out of memory while loading {method}: {reason}"
            line = f"{method} failed to load: {reason}"
            self.failures.load_failed(method, line)
            raise LoadError(line) from exc
        free_device_memory()
        self.loads[method] += 1
        self.events.append(("load", method))
        self.records[method] = LoadRecord(
            seconds=time.perf_counter() - prepared,
            prepare_seconds=prepared - start,
            weights_bytes=self.memory.allocated() - before,
            tensor_bytes=tensor_bytes(loaded.model),
            notes=notes + list(loaded.notes),
        )
        self.current = self.after_load(loaded)
        return self.current

    def load_beside(self, method: str) -> LoadedModel:
        """``method`` loaded next to the resident model, for interleaved rounds; kept out of the
        records, counts and events, which belong to the load its own benches make alone."""
        prepare = self.preparers.get(method)
        try:
            if prepare:
                prepare(self.request)
            return self.loaders[method](self.request)
        except Exception as exc:
            free_device_memory()
            raise LoadError(f"{method} failed to load beside the others: {one_line(exc)}") from exc

    def unload(self) -> None:
        """Drop the resident model and give its memory back."""
        if self.current is None:
            return
        self.events.append(("unload", self.current.method))
        self.current = None
        free_device_memory()
