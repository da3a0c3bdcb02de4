"""The host side of a GPU session: which CPU drives it and how long one kernel launch costs.

Eager decode at batch 1 on a small model is bound by the host, not the GPU: every step launches
hundreds of small kernels from Python. On lent H100s the same code ran 22-40 % slower on some
hosts than on others (docs/results/h100-2026-11-24), so a session records the host CPU and a
launch-overhead probe beside the GPU's copy bandwidth; a slow session can then be told apart
from a slow library.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from quantbench.stats import summarize


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


HOST_DIFFERENCE = 0.25


def host_note(baseline_us: float | None, session_us: float | None,
              threshold: float = HOST_DIFFERENCE) -> str | None:
    """A line for the gate when this host's launch overhead differs from the baseline's by more
    than ``threshold``: eager batch-1 decode is bound by it, so a regression (or improvement)
    in the eager rows may be the machine rather than the software. ``None`` when either side
    was not probed or they are close. On 2026-11-25 an H100 lease probing 12.0 us (the baseline
    leases: 7.4 us) ran eager FP16 at 26 tok/s, against 31-53 on other leases."""
    if not baseline_us or not session_us:
        return None
    change = session_us / baseline_us - 1.0
    if abs(change) <= threshold:
        return None
    slower = "slower" if change > 0 else "faster"
    return (f"host: {session_us:.1f} us per kernel launch here vs {baseline_us:.1f} us in the "
            f"baseline ({change * 100:+.0f} %): this host is {slower} at launching kernels, which "
            "bounds eager batch-1 decode, so eager verdicts may reflect the machine; compiled rows "
            "(CUDA graphs) depend on it far less")
