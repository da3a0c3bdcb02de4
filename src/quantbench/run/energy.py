"""Energy per generated token from NVML's total-energy counter.

Quantization users ask what a token costs; the counter answers without extra hardware. NVML's
``nvmlDeviceGetTotalEnergyConsumption`` gives the GPU's energy in mJ since the driver was last
loaded; NVIDIA documents it "for Volta or newer fully supported devices", and others answer
``NotSupported``. The counter covers the whole GPU, so a window's reading includes idle power and
any other process on that GPU; and it is refreshed only every 20-100 ms on newer GPUs (PETSc's
manual, https://petsc.org/main/manualpages/Log/PetscLogGpuEnergyMeter). So read it once before
and once after a long window (all of a case's timed rounds) and divide by the tokens generated in
between, prefill included.
"""

from __future__ import annotations

from typing import Any

from quantbench.catalog import spec
from quantbench.results import Metric

CPU_NOTE = "energy: not measured on the CPU"


class EnergyMeter:
    """Reads one GPU's total-energy counter; ``read_mj`` is ``None`` wherever it cannot.

    ``index=None`` (the CPU), a missing nvidia-ml-py, no driver access, or a GPU without the
    counter all give ``None`` readings, and ``reason`` says which.
    """

    def __init__(self, index: int | None = 0) -> None:
        self.reason: str | None = None
        self._nvml: Any = None
        self._handle: Any = None
        if index is None:
            self.reason = CPU_NOTE
            return
        try:
            import pynvml
        except ImportError:
            self.reason = "energy: not measured (nvidia-ml-py is not installed)"
            return
        try:
            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        except pynvml.NVMLError as exc:
            self.reason = f"energy: not measured (NVML: {exc})"
            return
        self._nvml = pynvml

    def read_mj(self) -> float | None:
        """The counter in mJ, or ``None`` (and ``reason`` set) where it cannot be read."""
        if self._handle is None:
            return None
        nvml = self._nvml
        try:
            return float(nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except nvml.NVMLError_NotSupported:
            self.reason = "energy: not measured (this GPU has no total-energy counter)"
            self.close()
        except nvml.NVMLError as exc:
            self.reason = f"energy: not measured (NVML: {exc})"
        return None

    def close(self) -> None:
        """Drop this meter's NVML reference; later readings are ``None``."""
        if self._nvml is not None:
            self._nvml.nvmlShutdown()
        self._nvml = self._handle = None


def energy_per_token(before_mj: float | None, after_mj: float | None, tokens: int) -> Metric | None:
    """mJ per generated token between two readings; ``None`` when a reading is missing, no
    token was generated, or the counter went backwards (a driver reload resets it)."""
    if before_mj is None or after_mj is None or tokens <= 0 or after_mj < before_mj:
        return None
    value = (after_mj - before_mj) / tokens
    s = spec("energy_mj_per_token")
    return Metric(s.name, s.unit, value, value, value, 1, s.higher_is_better, 0.0, "fixed")
