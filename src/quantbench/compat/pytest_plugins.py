"""pytest-benchmark's and pytest-xdist's internals quantbench relies on.

pytest-xdist: ``plugin.scheduling`` is an xdist scheduler and talks to xdist's ``WorkerController``
nodes through the functions below. A scheduler whose nodes behave otherwise would hang the session
or lose cases, so a controller refuses a pytest-xdist outside ``XDIST_SUPPORTED`` before any worker
starts (``check_xdist``).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from quantbench.compat.versions import require

# pytest-benchmark 5.1 (checked 5.1.0 to 5.2.x): ``BenchmarkFixture._make_stats`` is the one entry
# point for timings measured outside its own timer, and ``_mode`` marks the fixture as used (an
# unused fixture is reported as an error).
def record_rounds(benchmark: Any, label: str, round_seconds: Iterable[float]) -> None:
    """Put externally timed rounds into pytest-benchmark's statistics for this test."""
    benchmark._mode = label
    if getattr(benchmark, "disabled", False):
        return
    seconds = list(round_seconds)
    if not seconds:
        return
    stats = benchmark._make_stats(1)
    for value in seconds:
        stats.update(value)


def mark_used(benchmark: Any, label: str) -> None:
    """Mark pytest-benchmark's fixture as used by a test that records no timings (quality)."""
    benchmark._mode = label


# pytest-xdist 3.5 to 3.8 (read in 3.8.0's xdist/workermanage.py, xdist/scheduler/protocol.py and
# xdist/dsession.py): a node is a ``WorkerController``; its ``gateway.id`` (execnet's) names the worker
# ("gw0"), ``send_runtest_some`` sends it test indices of its collection, ``shutdown`` tells it to finish
# what it was sent, ``shutting_down`` says it was told; ``workermanage.parse_tx_spec_config`` is how
# xdist itself counts the workers ``-n``/``--tx`` will start.
XDIST_SUPPORTED = ">=3.5,<4"
XDIST_CHECKED = "pytest-xdist 3.5 to 3.8"


def check_xdist() -> str:
    """The installed pytest-xdist's version; ``UnsupportedVersion`` outside ``XDIST_SUPPORTED``."""
    return require("pytest-xdist", XDIST_SUPPORTED, XDIST_CHECKED, "method scheduling under -n")


def xdist_worker_count(config: Any) -> int:
    """How many workers pytest-xdist will start, from its private ``parse_tx_spec_config``."""
    check_xdist()
    from xdist.workermanage import parse_tx_spec_config

    return len(parse_tx_spec_config(config))


def worker_id(node: Any) -> str:
    """An xdist node's worker id ("gw0")."""
    return node.gateway.id


def send_tests(node: Any, indices: Sequence[int]) -> None:
    """Send ``node`` these indices of its collection to run."""
    node.send_runtest_some(list(indices))


def shut_down(node: Any) -> None:
    """Tell ``node`` to finish what it was sent and stop."""
    node.shutdown()


def shutting_down(node: Any) -> bool:
    """Whether ``node`` was told to stop."""
    return bool(node.shutting_down)
