"""Clocks that mark points in a stream of device work and read the time between them.

On CUDA a mark is an event recorded on the current stream, so marking every decode step costs
no synchronisation and does not perturb what it measures; the host waits once, at the end.
On the CPU a mark is ``perf_counter``. Tests use a fake clock whose time moves only when told.
"""

from __future__ import annotations

import time
from typing import Any, Protocol


class Clock(Protocol):
    def mark(self) -> Any:
        """Record 'now' in the device's timeline."""

    def sync(self) -> None:
        """Wait until every marked point has happened."""

    def elapsed_ms(self, start: Any, end: Any) -> float:
        """Milliseconds between two marks (after ``sync``)."""

    def now_s(self) -> float:
        """Host seconds, for budgets only, never for results."""


class HostClock:
    """``perf_counter`` marks, for the CPU where work is synchronous."""

    def mark(self) -> float:
        return time.perf_counter()

    def sync(self) -> None:
        return None

    def elapsed_ms(self, start: float, end: float) -> float:
        return (end - start) * 1000.0

    def now_s(self) -> float:
        return time.perf_counter()


class CudaClock:
    """CUDA events on the current stream; one synchronisation per measured round."""

    def __init__(self) -> None:
        import torch

        self._torch = torch

    def mark(self) -> Any:
        event = self._torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def sync(self) -> None:
        self._torch.cuda.synchronize()

    def elapsed_ms(self, start: Any, end: Any) -> float:
        return float(start.elapsed_time(end))

    def now_s(self) -> float:
        return time.perf_counter()


class FakeClock:
    """A clock for tests: time advances only through ``advance``."""

    def __init__(self) -> None:
        self.t_ms = 0.0
        self.syncs = 0

    def advance(self, ms: float) -> None:
        self.t_ms += ms

    def mark(self) -> float:
        return self.t_ms

    def sync(self) -> None:
        self.syncs += 1

    def elapsed_ms(self, start: float, end: float) -> float:
        return end - start

    def now_s(self) -> float:
        return self.t_ms / 1000.0


def clock_for(device: str) -> Clock:
    """The right clock for a device."""
    return CudaClock() if device == "cuda" else HostClock()
