"""Energy per token through a fake NVML module: readings, unsupported GPUs, missing NVML."""

from __future__ import annotations

import sys
import types

import pytest

from quantbench.catalog import SPECS
from quantbench.run.energy import CPU_NOTE, EnergyMeter, energy_per_token


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


class NVMLError_GpuIsLost(NVMLError):
    pass


def fake_nvml(readings: list, init_error: Exception | None = None) -> types.ModuleType:
    """A pynvml stand-in whose energy counter returns ``readings`` in turn (an exception
    instance in the list is raised instead), recording the calls it gets."""
    nvml = types.ModuleType("pynvml")
    nvml.NVMLError = NVMLError
    nvml.NVMLError_NotSupported = NVMLError_NotSupported
    nvml.calls = []
    values = iter(readings)

    def init() -> None:
        nvml.calls.append("init")
        if init_error is not None:
            raise init_error

    def handle(index: int) -> str:
        nvml.calls.append(f"handle {index}")
        return f"gpu{index}"

    def energy(h: str) -> int:
        nvml.calls.append(f"energy {h}")
        value = next(values)
        if isinstance(value, Exception):
            raise value
        return value

    nvml.nvmlInit = init
    nvml.nvmlDeviceGetHandleByIndex = handle
    nvml.nvmlDeviceGetTotalEnergyConsumption = energy
    nvml.nvmlShutdown = lambda: nvml.calls.append("shutdown")
    return nvml


def test_meter_reads_the_counter_of_its_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml([1_000_000, 1_012_800])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    meter = EnergyMeter(index=1)
    assert meter.read_mj() == 1_000_000.0
    assert meter.read_mj() == 1_012_800.0
    assert meter.reason is None
    assert nvml.calls == ["init", "handle 1", "energy gpu1", "energy gpu1"]
    meter.close()
    assert nvml.calls[-1] == "shutdown"
    assert meter.read_mj() is None  # closed: no further readings


def test_a_gpu_without_the_counter_reads_none_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml([NVMLError_NotSupported()])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    meter = EnergyMeter(index=0)
    assert meter.read_mj() is None
    assert meter.reason == "energy: not measured (this GPU has no total-energy counter)"
    assert meter.read_mj() is None  # not asked again
    assert nvml.calls == ["init", "handle 0", "energy gpu0", "shutdown"]


def test_another_nvml_error_reads_none_but_keeps_the_meter(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml([NVMLError_GpuIsLost("GPU is lost"), 5_000])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    meter = EnergyMeter()
    assert meter.read_mj() is None
    assert meter.reason == "energy: not measured (NVML: GPU is lost)"
    assert meter.read_mj() == 5_000.0


def test_no_driver_access_and_no_package_read_none(monkeypatch: pytest.MonkeyPatch) -> None:
    no_driver = fake_nvml([], init_error=NVMLError("Driver Not Loaded"))
    monkeypatch.setitem(sys.modules, "pynvml", no_driver)
    meter = EnergyMeter()
    assert meter.read_mj() is None
    assert meter.reason == "energy: not measured (NVML: Driver Not Loaded)"
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails: nvidia-ml-py not installed
    meter = EnergyMeter()
    assert meter.read_mj() is None
    assert meter.reason == "energy: not measured (nvidia-ml-py is not installed)"


def test_the_cpu_has_no_meter(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = fake_nvml([1])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    meter = EnergyMeter(index=None)
    assert meter.read_mj() is None
    assert meter.reason == CPU_NOTE
    assert nvml.calls == []  # NVML is not even opened


def test_energy_per_token_divides_the_counter_difference() -> None:
    metric = energy_per_token(1_000_000.0, 1_012_800.0, 128)
    assert metric is not None
    assert (metric.name, metric.unit) == ("energy_mj_per_token", SPECS["energy_mj_per_token"].unit)
    assert (metric.median, metric.low, metric.high, metric.n) == (100.0, 100.0, 100.0, 1)
    assert metric.higher_is_better is False and metric.stop == "fixed"


@pytest.mark.parametrize("before,after,tokens", [
    (None, 10.0, 4),  # no reading before
    (10.0, None, 4),  # no reading after
    (10.0, 20.0, 0),  # nothing generated
    (500.0, 20.0, 4),  # counter went backwards (driver reloaded)
])
def test_energy_per_token_is_none_without_a_valid_window(before, after, tokens) -> None:
    assert energy_per_token(before, after, tokens) is None
