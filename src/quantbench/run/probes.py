"""What a runner does besides loading and timing, as one bundle: ``Probes``.

A real session reads the GPU's energy counter, freezes the heap once, checks that a method can
run here before loading it, probes the host and runs each generate case's work pass; a test with
fake models wants none of that. The bundle says which, instead of the runner guessing from
whether its loaders were faked: ``Probes.default()`` for real runs, ``Probes.null()`` for tests.
It also carries the callbacks through which a plugin may change what the runner loads and
builds (the pytest plugin binds its hooks in, ``plugin.hooks``); the runner imports no pytest.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from quantbench.methods import unavailable_reason
from quantbench.results import Metric
from quantbench.run import steady
from quantbench.run.energy import EnergyMeter
from quantbench.run.host_probe import launch_overhead_us
from quantbench.device_memory import free_device_memory
from quantbench.run.roofline import copy_bandwidth_gbs
from quantbench.run.timing import Clock
from quantbench.run.work_pass import work_metrics

# (engine, prompt, new_tokens, step_ms, device) -> the work pass's figures and notes
WorkPass = Callable[[Any, Any, int, float, str], tuple[dict[str, Metric], list[str]]]


class NoEnergy:
    """The null bundle's energy meter: no readings, and nothing to say about them."""

    reason: str | None = None

    def read_mj(self) -> float | None:
        return None


def energy_meter(device: str) -> EnergyMeter:
    """The GPU's energy meter (the first GPU's counter; none on the CPU, which it says)."""
    return EnergyMeter(0 if device == "cuda" else None)


def host_readings(device: str, clock: Clock) -> tuple[float | None, float | None]:
    """The device's copy bandwidth (GB/s) and the host's per-launch overhead (us); the copy's
    buffers (2 GiB on a GPU) are given back, so they do not stay reserved under the methods."""
    nbytes = (1 << 30) if device == "cuda" else (1 << 27)
    bandwidth = copy_bandwidth_gbs(device, clock, nbytes)
    overhead = launch_overhead_us(device, clock.sync)
    free_device_memory()
    return bandwidth, overhead


def nothing(*args: Any) -> None:
    """A probe or callback that does nothing and changes nothing."""
    return None


def no_host_readings(device: str, clock: Clock) -> tuple[None, None]:
    return None, None


def no_work_pass(engine: Any, prompt: Any, new_tokens: int, step_ms: float,
                 device: str) -> tuple[dict[str, Metric], list[str]]:
    return {}, []


@dataclass(frozen=True)
class Probes:
    """The runner's probes and plugin callbacks (each callback returns a replacement, or
    ``None`` to keep what it was given)."""

    energy_meter: Callable[[str], Any]  # device -> a meter with ``read_mj()`` and ``reason``
    freeze_heap: Callable[[], Any]  # once, before any model loads (``steady.freeze_heap``)
    unavailable: Callable[[str, str], str | None]  # (method, device) -> why it cannot run here
    host: Callable[[str, Clock], tuple[float | None, float | None]]  # once, before the first case
    work_pass: WorkPass  # after each generate case's timed rounds
    model_loaded: Callable[[Any, str], Any]  # (model, method): after each load
    engine_made: Callable[[Any, Any, str], Any]  # (engine, model, mode): after each engine is built

    @classmethod
    def default(cls, **callbacks: Any) -> Probes:
        """A real run's probes; ``callbacks`` replace fields by name (a plugin's hooks)."""
        probes = cls(energy_meter, steady.freeze_heap, unavailable_reason, host_readings,
                     work_metrics, nothing, nothing)
        return replace(probes, **callbacks)

    @classmethod
    def null(cls, **callbacks: Any) -> Probes:
        """A test's probes: nothing read, frozen, checked, probed or profiled, nothing changed;
        ``callbacks`` replace fields by name."""
        probes = cls(lambda device: NoEnergy(), nothing, nothing, no_host_readings, no_work_pass,
                     nothing, nothing)
        return replace(probes, **callbacks)
