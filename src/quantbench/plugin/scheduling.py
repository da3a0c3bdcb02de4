"""How ``pytest benches -n N`` shares the cases out: every case of one method on one worker.

A worker keeps one model resident, so splitting a method's cases over two workers would load it
twice and put two copies of the session's figures for it on two GPUs. ``MethodScheduling``
(pytest-xdist's scheduler protocol, chosen by the ``pytest_xdist_make_scheduler`` hook of
``plugin.workers`` in place of xdist's ``load``) gives each worker a fixed share of the methods,
round-robin in collection order, and sends each worker all its cases at once, in the order the
plugin sorted them: eager before compiled, the reference method first. The collection order
puts the reference method first, so it lands on the first worker.

The method of a case is read from its test id (``test_generate[fp16-bs1-eager]``): the first
``-``-separated part that names one of the session's methods. A case without one (a bench that
loads no model) is a share of its own. After a worker crashes, its unfinished cases (less the
one that crashed, which xdist reports as failed) go to the replacement worker xdist starts.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from quantbench import compat
from quantbench.merge import worker_order

NO_METHOD = ""  # the share of cases that name no method


def method_of(nodeid: str, methods: Sequence[str]) -> str:
    """The method a test id's parameters name, or ``NO_METHOD``."""
    start, end = nodeid.find("["), nodeid.rfind("]")
    if start < 0 or end < start:
        return NO_METHOD
    for part in nodeid[start + 1:end].split("-"):
        if part in methods:
            return part
    return NO_METHOD


def plan(collection: Sequence[str], methods: Sequence[str], workers: int) -> list[list[str]]:
    """Each worker's test ids, in collection order: methods (in order of first appearance)
    dealt round-robin, all of a method's cases to one worker."""
    shares: list[str] = []
    owner: dict[str, int] = {}
    out: list[list[str]] = [[] for _ in range(workers)]
    for nodeid in collection:
        method = method_of(nodeid, methods)
        if method not in owner:
            owner[method] = len(shares) % workers
            shares.append(method)
        out[owner[method]].append(nodeid)
    return out


class MethodScheduling:
    """xdist's scheduler protocol (see ``xdist.scheduler.protocol``) with fixed method shares; the
    nodes are xdist's, reached only through ``compat`` (the xdist versions it was checked on)."""

    def __init__(self, numnodes: int, methods: Sequence[str],
                 log: Callable[..., Any] | None = None) -> None:
        self.numnodes = numnodes
        self.methods = tuple(methods)
        self.log = log or (lambda *args: None)
        self.collection: list[str] | None = None
        self.registered: dict[Any, list[str]] = {}
        self.sent: dict[Any, list[str]] = {}  # node -> test ids sent, in order
        self.done: dict[Any, set[str]] = {}
        self.orphans: list[str] = []  # a crashed worker's unfinished cases, for its replacement

    @property
    def nodes(self) -> list[Any]:
        return list(self.sent)

    @property
    def collection_is_completed(self) -> bool:
        return len(self.registered) >= self.numnodes

    def _pending(self, node: Any) -> list[str]:
        return [n for n in self.sent[node] if n not in self.done[node]]

    @property
    def tests_finished(self) -> bool:
        """A worker keeps its last case until it is told to shut down, hence ``< 2``."""
        if not self.collection_is_completed or self.orphans:
            return False
        return all(len(self._pending(node)) < 2 for node in self.sent)

    @property
    def has_pending(self) -> bool:
        return bool(self.orphans) or any(self._pending(node) for node in self.sent)

    def add_node(self, node: Any) -> None:
        self.sent[node] = []
        self.done[node] = set()

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        if self.collection is not None and list(collection) != self.collection:
            self.log(f"worker {compat.worker_id(node)} collected other tests; it gets none")
            compat.shut_down(node)
            return
        self.registered[node] = list(collection)

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.done[node].add(self.registered[node][item_index])

    def mark_test_pending(self, item: str) -> None:
        raise NotImplementedError

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError

    def remove_node(self, node: Any) -> str | None:
        """Forget ``node``; the case it was running when it crashed, if any."""
        pending = self._pending(node)
        del self.sent[node], self.done[node]
        if not pending:
            return None
        self.orphans.extend(pending[1:])
        return pending[0]

    def schedule(self) -> None:
        """Send every worker its share, then tell it to finish; later calls (a replacement
        worker has collected) hand the orphaned cases to a fresh worker."""
        if self.collection is None:
            collections = list(self.registered.values())
            if any(c != collections[0] for c in collections[1:]):
                raise RuntimeError("quantbench: the xdist workers collected different tests")
            self.collection = collections[0]
            nodes = sorted(self.registered, key=lambda n: worker_order(compat.worker_id(n)))
            for node, ids in zip(nodes, plan(self.collection, self.methods, len(nodes))):
                self._send(node, ids)
            return
        for node in list(self.sent):
            if compat.shutting_down(node) or node not in self.registered:
                continue  # done, or still collecting: scheduled again once it has
            ids, self.orphans = self.orphans, []
            self._send(node, ids)

    def _send(self, node: Any, ids: list[str]) -> None:
        if ids:
            index = {nodeid: i for i, nodeid in enumerate(self.registered[node])}
            compat.send_tests(node, [index[nodeid] for nodeid in ids])
            self.sent[node].extend(ids)
        compat.shut_down(node)
