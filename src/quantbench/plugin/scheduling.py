"""How ``pytest benches -n N`` shares the cases out: every case of one method on one worker,
the methods split so the workers finish together.

A worker keeps one model resident, so splitting a method's cases over two workers would load it
twice and put two copies of the session's figures for it on two GPUs. ``MethodScheduling``
(pytest-xdist's scheduler protocol, chosen by the ``pytest_xdist_make_scheduler`` hook of
``plugin.workers`` in place of xdist's ``load``) gives each worker a fixed share of the methods
and sends each worker all its cases at once, in the order the plugin sorted them: eager before
compiled, the reference method first.

The shares are balanced by cost, not dealt round-robin: methods differ by more than 2x in
seconds (INT8 the dearest, ``EXPECTED_S``), and round-robin can put the dearest on one worker. A worker's expected seconds (``worker_seconds``) are its methods' costs besides
warm-up (their seconds in the previous session of the same report folder when that session ran
every method of this one, else ``EXPECTED_S``), one ``DTYPE_WARMUP_S`` per model dtype it runs
(the first generation in a dtype builds cuDNN's attention plans), and ``REFERENCE_EXTRA_S`` when
it lacks the reference method (it loads the reference for the quality verdicts). ``plan`` takes
the split whose slowest worker is quickest (every split is tried while there are few;
longest-first greedy beyond), and the reference's worker is the first.

The method of a case is read from its test id (``test_generate[fp16-bs1-eager]``): the first
``-``-separated part that names one of the session's methods. A case without one (a bench that
loads no model) is a share of its own, of no cost. After a worker crashes, its unfinished cases
(less the one that crashed, which xdist reports as failed) go to the replacement worker xdist
starts.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from quantbench import compat
from quantbench.merge import worker_order
from quantbench.methods import METHODS
from quantbench.session import Session, SessionError

NO_METHOD = ""  # the share of cases that name no method
# Seconds per method of a measured default session on a GPU, its warm-up left out (its
# time.per_method less its warm-up; the session file is kept under docs/results); another
# method counts as their median.
EXPECTED_S = {"fp16": 15.7, "bf16": 14.0, "int8": 32.0, "nf4": 12.9, "awq": 18.0}
# A worker's first full-length generation in a model dtype builds cuDNN's attention plans
# (``run.runner.SHORT_WARMUP_TOKENS``), which the later methods of that dtype no longer pay (the
# same session's warm-ups). Charged once per dtype a worker runs.
DTYPE_WARMUP_S = 12.2
REFERENCE_EXTRA_S = 7.2  # the same session's FP16 load and quality phases
EXACT_LIMIT = 50_000  # splits tried one by one up to this many; greedy beyond


def method_of(nodeid: str, methods: Sequence[str]) -> str:
    """The method a test id's parameters name, or ``NO_METHOD``."""
    start, end = nodeid.find("["), nodeid.rfind("]")
    if start < 0 or end < start:
        return NO_METHOD
    for part in nodeid[start + 1:end].split("-"):
        if part in methods:
            return part
    return NO_METHOD


def method_costs(methods: Sequence[str], previous: Path | None = None) -> dict[str, float]:
    """Seconds each method is expected to take besides its warm-up: the previous session's, read
    from ``previous``, when it timed every one of ``methods``; else ``EXPECTED_S`` (others at
    its median)."""
    if previous is not None:
        try:
            timed = Session.read(previous).time.get("per_method") or {}
            measured = {m: float(sum(v for k, v in timed[m].items()
                                     if k != "warmup" and isinstance(v, (int, float))))
                        for m in methods}
        except (SessionError, KeyError, TypeError, AttributeError, ValueError):
            measured = {}
        if measured and all(v > 0 for v in measured.values()):
            return measured
    median = sorted(EXPECTED_S.values())[len(EXPECTED_S) // 2]
    return {m: EXPECTED_S.get(m, median) for m in methods}


def worker_seconds(methods: Sequence[str], costs: Mapping[str, float],
                   reference: str | None) -> float:
    """A worker's expected seconds for ``methods``: their costs, one warm-up per model dtype,
    and the reference's load when the session has one and this worker lacks it."""
    models = [m for m in methods if m != NO_METHOD]
    if not models:
        return 0.0
    dtypes = {METHODS[m].half if m in METHODS else "fp16" for m in models}
    extra = REFERENCE_EXTRA_S if reference is not None and reference not in models else 0.0
    return sum(costs.get(m, 0.0) for m in models) + DTYPE_WARMUP_S * len(dtypes) + extra


def split(shares: Sequence[str], workers: int, costs: Mapping[str, float],
          reference: str | None = None) -> dict[str, int]:
    """Each share's worker, so the slowest worker's ``worker_seconds`` is least; ``reference``
    (or else the first share) goes to worker 0."""
    first = reference if reference in shares else (shares[0] if shares else None)
    rest = [s for s in shares if s != first]
    reference = reference if reference in shares else None

    def start() -> list[list[str]]:
        return [[first] if first is not None else []] + [[] for _ in range(workers - 1)]

    def slowest(held: list[list[str]]) -> float:
        return max(worker_seconds(h, costs, reference) for h in held)

    def placed(owners: Sequence[int]) -> list[list[str]]:
        held = start()
        for share, w in zip(rest, owners):
            held[w].append(share)
        return held

    if workers ** len(rest) <= EXACT_LIMIT:
        held = placed(min(itertools.product(range(workers), repeat=len(rest)),
                          key=lambda o: slowest(placed(o))))
    else:
        held = start()
        for share in sorted(rest, key=lambda s: -costs.get(s, 0.0)):  # longest first, each where
            w = min(range(workers), key=lambda i: (  # the slowest grows least, then the lightest
                slowest([h + [share] if j == i else h for j, h in enumerate(held)]),
                worker_seconds(held[i] + [share], costs, reference), i))
            held[w].append(share)
    return {share: w for w, shares_of in enumerate(held) for share in shares_of}


def plan(collection: Sequence[str], methods: Sequence[str], workers: int,
         costs: Mapping[str, float] | None = None, reference: str | None = None
         ) -> list[list[str]]:
    """Each worker's test ids, in collection order, all of a method's cases on one worker and
    the methods split by ``costs`` (``method_costs``'s estimate when not given)."""
    shares = list(dict.fromkeys(method_of(nodeid, methods) for nodeid in collection))
    if costs is None:
        costs = method_costs([s for s in shares if s != NO_METHOD])
    owner = split(shares, workers, costs, reference)
    out: list[list[str]] = [[] for _ in range(workers)]
    for nodeid in collection:
        out[owner[method_of(nodeid, methods)]].append(nodeid)
    return out


class MethodScheduling:
    """xdist's scheduler protocol (see ``xdist.scheduler.protocol``) with fixed method shares; the
    nodes are xdist's, reached only through ``compat`` (the xdist versions it was checked on)."""

    def __init__(self, numnodes: int, methods: Sequence[str],
                 log: Callable[..., Any] | None = None, costs: Mapping[str, float] | None = None,
                 reference: str | None = None) -> None:
        self.numnodes = numnodes
        self.methods = tuple(methods)
        self.costs = dict(costs) if costs is not None else None
        self.reference = reference
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
            shares = plan(self.collection, self.methods, len(nodes), self.costs, self.reference)
            for node, ids in zip(nodes, shares):
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
