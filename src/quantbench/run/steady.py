"""Less noise between processes where software can remove it: a fixed set of CPUs, no garbage
collection during timed rounds, and a CPU spun up before the first timed case.

Between processes on one GPU machine, FP16 eager decode spreads tens of percent
(docs/results/gating-evidence.md, "The 3× prior"): eager
batch-1 decode is bound by the host, so where the process runs and what interrupts it moves the
figure. Each measure here is on by default (``steady = true``; ``--qb-steady off`` turns them
off so their effect can be measured: docs/gating.md, "Steadier processes").

* CPUs: the process is pinned to ``PINNED_CPUS`` CPUs of its allowed set, skipping the first
  (which takes most interrupts), so every session of a machine runs on the same cores. Only on a
  GPU host with enough CPUs, and not under pytest-xdist (workers would share the cores). A
  session that compiles starts inductor's compile workers first, on every CPU: a worker process
  keeps the CPUs it started with, so started later they would compile on the four pinned ones.
* Garbage collection: collected once, then paused over a case's timed rounds (pytest-benchmark's
  ``--benchmark-disable-gc``), so a collection never lands in one method's round.
* Spin-up: ``SPIN_S`` of busy Python before the first timed case, so a CPU that idles in a low
  clock state is at speed when timing starts.

And one measure against harness time, not noise: ``freeze_heap`` before the first model loads,
so the collections above skip the ~450,000 objects of torch, transformers and pytest.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from typing import Callable, Iterator, Mapping

from quantbench import compat

PINNED_CPUS = 4
SPIN_S = 0.5


def pin_cpus(device: str, environ: Mapping[str, str] = os.environ,
             compiles: bool = False) -> list[int] | None:
    """Pin this process to a fixed set of CPUs, first starting inductor's compile workers when
    the session ``compiles``; returns the set, or ``None`` when left alone."""
    if device != "cuda" or "PYTEST_XDIST_WORKER" in environ or not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < PINNED_CPUS + 2:
        return None
    if compiles:
        compat.start_compile_workers()
    chosen = allowed[1:1 + PINNED_CPUS]
    os.sched_setaffinity(0, chosen)
    import torch

    torch.set_num_threads(len(chosen))  # as many CPU threads as CPUs, or they thrash
    return chosen


def spin(seconds: float = SPIN_S, clock: Callable[[], float] = time.perf_counter) -> int:
    """Busy-loop for ``seconds``; returns the iterations (so the loop is not optimised away)."""
    end = clock() + seconds
    count = 0
    while clock() < end:
        count += 1
    return count


def freeze_heap() -> int:
    """Collect once, then move every object alive now into the collector's permanent generation
    (``gc.freeze``); returns how many were frozen.

    A full collection with the imports of a bench session and a 0.5B model in memory took 0.22 s
    on a 2-core CPU and 1 ms after freezing (459k objects against 5k), and a session
    collects before every case's timed rounds and each time a model is freed (~30 times). Frozen
    objects still die by reference counting; only a reference cycle among them that later turns
    to garbage stays until the process ends, so this is called once, before any model loads.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@contextlib.contextmanager
def gc_paused(enabled: bool = True) -> Iterator[None]:
    """Collect, then pause the garbage collector inside the block (restored after, even on error)."""
    if not enabled or not gc.isenabled():
        yield
        return
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
