"""A failed bench's traceback must not keep its model alive under the next method."""

from __future__ import annotations

import gc
import weakref

import pytest

from quantbench import plugin


class Model:
    """Stands in for a loaded model held as a test's local."""


def _failing_test(model: Model) -> None:
    """A bench that fails while its frame holds the model as a local."""
    raise AssertionError(f"quality below threshold for {type(model).__name__}")


def _failed_call() -> tuple[pytest.CallInfo, weakref.ref]:
    """A failed call whose traceback is the only thing holding its model."""
    holder = [Model()]
    ref = weakref.ref(holder[0])
    call = pytest.CallInfo.from_call(lambda: _failing_test(holder.pop()), when="call")
    return call, ref


def test_failure_traceback_frames_are_cleared() -> None:
    call, ref = _failed_call()
    gc.collect()
    assert ref() is not None  # the traceback's frame still holds it

    hook = plugin.pytest_runtest_makereport(item=None, call=call)
    next(hook)
    with pytest.raises(StopIteration):
        next(hook)
    gc.collect()
    assert ref() is None
