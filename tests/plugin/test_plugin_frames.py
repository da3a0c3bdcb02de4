"""A failed bench's traceback must not keep its model alive under the next method."""

from __future__ import annotations

import gc
import weakref

from types import SimpleNamespace

import pytest

from quantbench import plugin
from quantbench.plugin.keys import SESSION


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


class Outcome:
    """What pytest sends a hook wrapper: the report its inner hook made."""

    def __init__(self, report: SimpleNamespace) -> None:
        self.report = report

    def get_result(self) -> SimpleNamespace:
        return self.report


class Session:
    """Stands in for the session object: records what ``note_failure`` is told."""

    def __init__(self) -> None:
        self.noted: list[tuple[str, str, str]] = []

    def note_failure(self, method: str, test: str, exc: BaseException) -> None:
        self.noted.append((method, test, str(exc)))


def _item(session: Session | None) -> SimpleNamespace:
    stash = {} if session is None else {SESSION: session}
    return SimpleNamespace(config=SimpleNamespace(stash=stash), name="test_generate[nf4-bs1-eager]",
                           callspec=SimpleNamespace(params={"qb_model": "nf4", "qb_batch_size": 1}))


def _report(call: pytest.CallInfo, item: SimpleNamespace) -> None:
    hook = plugin.pytest_runtest_makereport(item=item, call=call)
    next(hook)
    with pytest.raises(StopIteration):
        hook.send(Outcome(SimpleNamespace(failed=True)))


@pytest.mark.parametrize("with_session", [True, False])
def test_failure_traceback_frames_are_cleared(with_session: bool) -> None:
    call, ref = _failed_call()
    gc.collect()
    assert ref() is not None  # the traceback's frame still holds it
    session = Session() if with_session else None
    _report(call, _item(session))
    gc.collect()
    assert ref() is None
    if session is not None:  # and the bench's failure went to the session's failures
        assert session.noted == [("nf4", "test_generate[nf4-bs1-eager]", "quality below threshold for Model")]
