"""Steadier processes: CPUs pinned only where it helps, GC paused and restored, a spin-up."""

from __future__ import annotations

import gc
import os
import weakref

import pytest

from quantbench.run import steady


def test_cpus_are_left_alone_on_a_cpu_under_xdist_or_with_few_cpus(monkeypatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cpus: calls.append(cpus), raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert steady.pin_cpus("cpu", {}) is None
    assert steady.pin_cpus("cuda", {"PYTEST_XDIST_WORKER": "gw0"}) is None
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4}, raising=False)
    assert steady.pin_cpus("cuda", {}) is None
    assert calls == []


def test_cpus_pinned_skip_the_first_and_set_torch_threads(monkeypatch) -> None:
    import torch

    calls: list[object] = []
    threads = torch.get_num_threads()
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cpus: calls.append(list(cpus)), raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {7, 0, 3, 5, 9, 11, 2}, raising=False)
    try:
        assert steady.pin_cpus("cuda", {}) == [2, 3, 5, 7]
        assert calls == [[2, 3, 5, 7]] and torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(threads)


def test_a_compiling_session_starts_inductors_workers_before_the_pin(monkeypatch) -> None:
    import torch

    from quantbench import compat

    order: list[str] = []
    threads = torch.get_num_threads()
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cpus: order.append("pin"), raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.setattr(compat, "start_compile_workers", lambda: order.append("workers") or True)
    try:
        assert steady.pin_cpus("cuda", {}, compiles=True) == [1, 2, 3, 4]
        assert order == ["workers", "pin"]  # the workers keep every CPU
        order.clear()
        assert steady.pin_cpus("cuda", {}) == [1, 2, 3, 4] and order == ["pin"]  # eager: no pool
        order.clear()
        assert steady.pin_cpus("cuda", {"PYTEST_XDIST_WORKER": "gw1"}, compiles=True) is None
        assert order == []  # not pinned: nothing to start early
    finally:
        torch.set_num_threads(threads)


PROBE = """
import json, os, psutil
from torch._inductor import config
from quantbench import compat
full = sorted(os.sched_getaffinity(0))
started = compat.start_compile_workers()
os.sched_setaffinity(0, {full[0]})
workers = [sorted(w.cpu_affinity()) for w in psutil.Process().children(recursive=True)]
print(json.dumps({"full": full, "threads": config.compile_threads, "started": started,
                  "workers": workers}))
"""


def test_compile_workers_started_first_keep_every_cpu_after_the_pin() -> None:
    """The real hook on this torch, in a process of its own (the pool's threads would otherwise
    live on in this one): inductor's pool starts when it compiles with several threads, and
    keeps the CPUs it started with once the starting thread is pinned to one."""
    import json
    import subprocess
    import sys

    pytest.importorskip("psutil")
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                         check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["started"] is (bool(seen["threads"]) and seen["threads"] > 1)
    if seen["started"] and len(seen["full"]) > 1:
        assert seen["workers"] and all(w == seen["full"] for w in seen["workers"])


def test_gc_is_paused_inside_and_restored_after_even_on_error() -> None:
    assert gc.isenabled()
    with steady.gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with steady.gc_paused():
            raise RuntimeError("boom")
    assert gc.isenabled()
    with steady.gc_paused(enabled=False):
        assert gc.isenabled()


def test_spin_runs_for_the_asked_time_on_a_fake_clock() -> None:
    ticks = iter(i * 0.1 for i in range(100))
    assert steady.spin(0.5, clock=lambda: next(ticks)) == 4  # 0.1 .. 0.4 are before the end


def test_freeze_heap_freezes_what_lives_and_later_cycles_are_still_collected() -> None:
    class Node:
        pass

    try:
        frozen = steady.freeze_heap()
        assert frozen == gc.get_freeze_count() > 0
        before = len(gc.get_objects())
        assert before < frozen  # the frozen objects are out of every later collection
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle made after the freeze, as a released model's modules
        ref = weakref.ref(a)
        del a, b
        assert ref() is not None
        gc.collect()
        assert ref() is None
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
