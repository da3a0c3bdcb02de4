"""Python calls per decode step: exact counts through this Python's hook and through a fake
``sys.monitoring`` (tool id choice, per-thread counting, clean release)."""

from __future__ import annotations

import _thread
import sys
from types import SimpleNamespace

import pytest

from quantbench.run import python_calls
from quantbench.run.python_calls import count_calls, python_calls_per_step


def leaf() -> None:
    pass


def two_yields():
    yield 1
    yield 2


def work() -> None:
    for _ in range(3):
        leaf()
    list(two_yields())  # a generator is entered 3 times: its start and two resumes


WORK_CALLS = 1 + 3 + 3  # work itself, leaf three times, the generator's three entries


def boom() -> None:
    raise RuntimeError("boom")


class FakeMonitoring:
    """``sys.monitoring``'s surface, delivering PY_START through this thread's profile hook."""

    events = SimpleNamespace(PY_START=1, PY_RESUME=2, PY_THROW=4)

    def __init__(self, taken: dict[int, str] | None = None, racing: int | None = None) -> None:
        self.tools = dict(taken or {})
        self.racing = racing  # an id that looks free but is claimed by someone else first
        self.callbacks: dict[tuple[int, int], object] = {}
        self.masks: dict[int, int] = {}
        self.freed: list[int] = []

    def get_tool(self, tool: int) -> str | None:
        return self.tools.get(tool)

    def use_tool_id(self, tool: int, name: str) -> None:
        if tool in self.tools or tool == self.racing:
            raise ValueError(f"tool {tool} is already in use")
        self.tools[tool] = name

    def free_tool_id(self, tool: int) -> None:
        del self.tools[tool]
        self.freed.append(tool)

    def register_callback(self, tool: int, event: int, fn) -> None:
        self.callbacks[(tool, event)] = fn

    def set_events(self, tool: int, mask: int) -> None:
        self.masks[tool] = mask
        start = self.callbacks.get((tool, self.events.PY_START))

        def hook(frame, event, arg):
            # The real set_events is a C function: the fake's own call to turn events off is
            # not an entry of the watched code.
            if event == "call" and frame.f_code is not FakeMonitoring.set_events.__code__:
                start(frame.f_code, 0)

        sys.setprofile(hook if mask else None)


@pytest.fixture
def fake_monitoring(monkeypatch: pytest.MonkeyPatch) -> FakeMonitoring:
    fake = FakeMonitoring()
    monkeypatch.setattr(sys, "monitoring", fake, raising=False)
    return fake


@pytest.fixture
def no_monitoring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sys, "monitoring", raising=False)


def test_counts_calls_on_this_python() -> None:
    assert count_calls(work) == WORK_CALLS


def test_profile_hook_path_counts_and_restores_the_previous_hook(no_monitoring) -> None:
    def previous(frame, event, arg):
        pass

    sys.setprofile(previous)
    try:
        assert count_calls(work) == WORK_CALLS
        assert sys.getprofile() is previous
        with pytest.raises(RuntimeError):
            count_calls(boom)
        assert sys.getprofile() is previous
    finally:
        sys.setprofile(None)


def test_monitoring_path_counts_with_a_free_tool_id_and_gives_it_back(fake_monitoring) -> None:
    assert count_calls(work) == WORK_CALLS
    events = fake_monitoring.events
    assert fake_monitoring.freed == [2]  # the profiler's id was free, so it was taken
    assert fake_monitoring.tools == {}
    assert set(fake_monitoring.masks) == {2} and fake_monitoring.masks[2] == 0  # events off again
    assert {k: v for k, v in fake_monitoring.callbacks.items()} == {
        (2, events.PY_START): None, (2, events.PY_RESUME): None, (2, events.PY_THROW): None}


def test_monitoring_path_skips_taken_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeMonitoring(taken={2: "cProfile"}, racing=3)
    monkeypatch.setattr(sys, "monitoring", fake, raising=False)
    assert count_calls(work) == WORK_CALLS
    assert fake.freed == [4] and fake.tools == {2: "cProfile"}


def test_monitoring_path_gives_none_when_every_id_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeMonitoring(taken={2: "cProfile", 3: "a", 4: "b"})
    monkeypatch.setattr(sys, "monitoring", fake, raising=False)
    assert count_calls(work) is None
    assert python_calls_per_step(StepEngine(), None, 4) is None


def test_monitoring_path_ignores_other_threads_and_cleans_up_on_error(fake_monitoring) -> None:
    def with_a_thread() -> None:
        # _thread's C calls keep the counting thread's own entries to this function and leaf.
        entered = fake_monitoring.callbacks[(2, fake_monitoring.events.PY_START)]
        done = _thread.allocate_lock()
        done.acquire()

        def other() -> None:
            entered(leaf.__code__, 0)
            done.release()

        _thread.start_new_thread(other, ())
        done.acquire()
        leaf()

    assert count_calls(with_a_thread) == 2  # itself and leaf, not the other thread's entry
    with pytest.raises(RuntimeError):
        count_calls(boom)
    assert fake_monitoring.tools == {} and fake_monitoring.masks[2] == 0
    assert sys.getprofile() is None


class StepEngine:
    """``generate`` enters ``per_step`` Python functions per decode step, 5 for the prefill and
    setup, and 40 more the first time only (a lazy import, a cache fill)."""

    def __init__(self, per_step: int = 6) -> None:
        self.per_step = per_step
        self.first = True
        self.calls: list[int] = []

    def generate(self, prompt, new_tokens: int, on_step) -> int:
        self.calls.append(new_tokens)
        for _ in range(40 if self.first else 0):
            leaf()
        self.first = False
        for _ in range(5):
            leaf()
        on_step()
        for _ in range(new_tokens - 1):
            for _ in range(self.per_step):
                leaf()
            on_step()
        return new_tokens


@pytest.mark.parametrize("path", ["this python", "profile hook", "monitoring"])
def test_calls_per_step_is_exact(path: str, request: pytest.FixtureRequest) -> None:
    if path == "profile hook":
        request.getfixturevalue("no_monitoring")
    elif path == "monitoring":
        request.getfixturevalue("fake_monitoring")
    engine = StepEngine(per_step=6)
    metric = python_calls_per_step(engine, None, 9)
    assert metric is not None
    assert (metric.name, metric.unit, metric.median, metric.low, metric.high) == (
        "decode_py_calls", "calls/token", 6.0, 6.0, 6.0)
    assert (metric.stop, metric.n, metric.higher_is_better) == ("exact", 1, False)
    assert engine.calls == [2, 9, 1]  # warm-up, N tokens, 1 token


def test_without_warmup_one_time_work_lands_in_the_count() -> None:
    engine = StepEngine(per_step=6)
    metric = python_calls_per_step(engine, None, 9, warmup=False)
    assert engine.calls == [9, 1]
    assert metric is not None and metric.median == 6.0 + 40 / 8


def test_calls_per_step_needs_two_tokens() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        python_calls_per_step(StepEngine(), None, 1)


def test_tool_ids_are_the_profiler_id_and_the_unassigned_ones() -> None:
    assert python_calls._TOOL_IDS == (2, 3, 4)
    if hasattr(sys, "monitoring"):
        assert sys.monitoring.PROFILER_ID == 2
