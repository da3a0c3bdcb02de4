"""Memory readings: what the weights take, the peak while generating, and what the device holds.

The T4 study's lesson is kept: a method's footprint is ``memory_allocated`` after loading minus
before (``max_memory_allocated`` would carry an earlier method's high-water mark). The peak is
read after a reset at the start of each bench. NVML's 'used' includes the CUDA context and
other processes, so it is reported beside, never instead. On the CPU only the process's resident
set is available, and it is labelled as such.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from quantbench import compat
from quantbench.catalog import spec
from quantbench.results import Metric

GB = 1e9


class MemoryProbe(Protocol):
    def allocated(self) -> int: ...

    def reserved(self) -> int: ...

    def reset_peak(self) -> None: ...

    def peak(self) -> int: ...

    def device_used(self) -> int | None: ...

    def rss(self) -> int: ...


def _rss() -> int:
    import psutil

    return int(psutil.Process(os.getpid()).memory_info().rss)


class CudaMemory:
    """torch's caching-allocator counters plus NVML's device-wide reading."""

    def __init__(self, index: int = 0) -> None:
        import torch

        self._cuda = torch.cuda
        self._index = index
        self._nvml: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._pynvml = pynvml
        except Exception:  # nvidia-ml-py missing or no driver access: NVML reading is optional
            self._nvml = None

    def allocated(self) -> int:
        return int(self._cuda.memory_allocated(self._index))

    def reserved(self) -> int:
        return int(self._cuda.memory_reserved(self._index))

    def reset_peak(self) -> None:
        self._cuda.reset_peak_memory_stats(self._index)

    def peak(self) -> int:
        return int(self._cuda.max_memory_allocated(self._index))

    def device_used(self) -> int | None:
        if self._nvml is None:
            return None
        return int(self._pynvml.nvmlDeviceGetMemoryInfo(self._nvml).used)

    def rss(self) -> int:
        return _rss()


class CpuMemory:
    """On the CPU there is no allocator counter: allocation readings are the resident set."""

    def __init__(self) -> None:
        self._peak = 0

    def allocated(self) -> int:
        return _rss()

    def reserved(self) -> int:
        return _rss()

    def reset_peak(self) -> None:
        self._peak = _rss()

    def peak(self) -> int:
        self._peak = max(self._peak, _rss())
        return self._peak

    def device_used(self) -> int | None:
        return None

    def rss(self) -> int:
        return _rss()


def memory_metrics(mem: MemoryProbe, record: Any, device: str) -> dict[str, Metric]:
    """A case's memory figures: the weights its load left (``record``, the pool's load record)
    and the probe's readings now; on the CPU the weights are the tensors' own bytes."""
    def exact(name: str, nbytes: float) -> Metric:
        s = spec(name)
        return Metric.exact(name, s.unit, nbytes / GB, higher_is_better=s.higher_is_better)

    out = {"rss_gb": exact("rss_gb", mem.rss())}
    if device == "cuda":
        out["weights_gb"] = exact("weights_gb", record.weights_bytes)
        out["peak_gb"] = exact("peak_gb", mem.peak())
        out["reserved_gb"] = exact("reserved_gb", mem.reserved())
        used = mem.device_used()
        if used is not None:
            out["device_used_gb"] = exact("device_used_gb", used)
    else:
        out["weights_gb"] = exact("weights_gb", record.tensor_bytes)
    return out


def probe_for(device: str) -> MemoryProbe:
    return CudaMemory() if device == "cuda" else CpuMemory()


def tensor_bytes(model: Any) -> int:
    """Bytes held by the model's parameters and buffers, each storage counted once.

    bitsandbytes keeps 4-bit block scales in a ``quant_state`` outside the module's tensors;
    those are added, so NF4's figure is what it really stores. Tensor subclasses (torchao's
    quantized weights) own no storage of their own: their inner tensors are counted instead.
    """
    seen: set[tuple[int, int]] = set()
    total = 0

    def add(t: Any) -> None:
        nonlocal total
        inner = compat.inner_tensors(t)
        if inner is not None:
            for part in inner:
                add(part)
            return
        key = (t.untyped_storage().data_ptr(), t.device.index or 0) if t.numel() else (id(t), -1)
        if key in seen:
            return
        seen.add(key)
        total += t.untyped_storage().nbytes() if t.numel() else 0

    for p in list(model.parameters()) + list(model.buffers()):
        add(p)
        for extra in compat.quant_state_tensors(p):
            add(extra)
    return total
