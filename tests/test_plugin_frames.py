"""A failed bench's traceback must not keep its model alive under the next method."""

from __future__ import annotations

import gc
import weakref

import pytest

from quantbench import plugin


class Model:
    """Stands in for a loaded model held as a test's local."""


def _failing_test(model: Model) -> None:
    held = model  # noqa: F841 - the local a traceback would keep alive
    raise AssertionError("quality below threshold")


def test_failure_traceback_frames_are_cleared() -> None:
    model = Model()
    ref = weakref.ref(model)
    call = pytest.CallInfo.from_call(lambda: _failing_test(model), when="call")
    del model
    gc.collect()
    assert ref() is not None  # the traceback's frame still holds it

    hook = plugin.pytest_runtest_makereport(item=None, call=call)
    next(hook)
    with pytest.raises(StopIteration):
        next(hook)
    gc.collect()
    assert ref() is None
