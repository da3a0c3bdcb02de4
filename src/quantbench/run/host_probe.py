"""The host side of a GPU session: how long one kernel launch costs.

Eager decode at batch 1 on a small model is bound by the host, not the GPU: every step launches
hundreds of small kernels from Python, and the same code runs tens of percent slower on some
hosts than on others (docs/findings.md), so a session records a launch-overhead
probe beside the host CPU (``env``) and the GPU's copy bandwidth; a slow session can then be
told apart from a slow library (``judge.host_note``).
"""

from __future__ import annotations

import time
from typing import Callable

from quantbench.stats import summarize


def launch_overhead_us(device: str, sync: Callable[[], None],
                       timer: Callable[[], float] = time.perf_counter,
                       launches: int = 2000, rounds: int = 5) -> float:
    """Median host microseconds per launch of a one-element in-place add, the device
    synchronised at the end of each round: the per-op cost of the host CPU and the framework,
    with no memory traffic to speak of (host time is the point here, not device time)."""
    import torch

    x = torch.zeros(1, device=device)
    x.add_(1)
    sync()
    per_launch = []
    for _ in range(rounds):
        start = timer()
        for _ in range(launches):
            x.add_(1)
        sync()
        per_launch.append((timer() - start) * 1e6 / launches)
    return summarize(per_launch).median
