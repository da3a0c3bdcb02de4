"""Python calls per decode step: a host work counter that kernel time cannot see.

For fixed software the number of Python frames one decode step enters is deterministic, so it
catches host-side code-path regressions (an extra wrapper, a slow path taken each step) that wall
time on a noisy host hides. It is counted in a pass of its own, never during timed rounds.

What is counted: Python frame entries on the calling thread, that is function calls plus
generator and coroutine resumes. On Python 3.12+ ``sys.monitoring`` (PY_START, PY_RESUME and
PY_THROW events, under a free tool id that is given back afterwards); before 3.12 the profile
hook's ``call`` events, which are the same entries (3.12 builds ``sys.setprofile`` on those three
monitoring events). Calls into C functions are not counted.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable

from quantbench.catalog import spec
from quantbench.results import Metric

# Tool ids a profiler may take: the one reserved for profilers, then the two left unassigned.
_TOOL_IDS = (2, 3, 4)
_TOOL_NAME = "quantbench"


def count_calls(fn: Callable[[], Any]) -> int | None:
    """Python frame entries on this thread while ``fn`` runs, ``fn``'s own frame included;
    ``None`` when every ``sys.monitoring`` tool id a profiler may use is taken (3.12+)."""
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is not None:
        return _count_monitoring(fn, monitoring)
    return _count_setprofile(fn)


def _count_setprofile(fn: Callable[[], Any]) -> int:
    count = 0

    def hook(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call":
            count += 1

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(previous)
    return count


def _free_tool_id(monitoring: Any) -> int | None:
    for tool in _TOOL_IDS:
        if monitoring.get_tool(tool) is None:
            try:
                monitoring.use_tool_id(tool, _TOOL_NAME)
            except ValueError:  # taken between the check and the claim
                continue
            return tool
    return None


def _count_monitoring(fn: Callable[[], Any], monitoring: Any) -> int | None:
    tool = _free_tool_id(monitoring)
    if tool is None:
        return None
    count = 0
    thread = threading.get_ident()

    def entered(code: Any, offset: int, *rest: Any) -> None:
        nonlocal count
        if threading.get_ident() == thread:
            count += 1

    events = monitoring.events
    kinds = (events.PY_START, events.PY_RESUME, events.PY_THROW)
    try:
        for kind in kinds:
            monitoring.register_callback(tool, kind, entered)
        monitoring.set_events(tool, events.PY_START | events.PY_RESUME | events.PY_THROW)
        fn()
    finally:
        monitoring.set_events(tool, 0)
        for kind in kinds:
            monitoring.register_callback(tool, kind, None)
        monitoring.free_tool_id(tool)
    return count


def python_calls_per_step(engine: Any, prompt: Any, n_tokens: int, *,
                          warmup: bool = True) -> Metric | None:
    """Python calls per decode step: (calls of an ``n_tokens`` generation − calls of a 1-token
    generation) / (n_tokens − 1), so prefill and per-call setup cancel.

    A 2-token warm-up first (unless ``warmup`` is off) keeps one-time work (lazy imports, cache
    fills) out of both counts. ``None`` when no ``sys.monitoring`` tool id is free.
    """
    if n_tokens < 2:
        raise ValueError("calls per step need at least 2 new tokens")
    # NoneType() returns None without a Python frame: the step hook adds no call of its own.
    if warmup:
        engine.generate(prompt, 2, type(None))
    many = count_calls(lambda: engine.generate(prompt, n_tokens, type(None)))
    one = count_calls(lambda: engine.generate(prompt, 1, type(None)))
    if many is None or one is None:
        return None
    s = spec("decode_py_calls")
    return Metric.exact(s.name, s.unit, (many - one) / (n_tokens - 1),
                        higher_is_better=s.higher_is_better)
