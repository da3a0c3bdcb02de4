"""Does counting Python calls with ``sys.monitoring`` leave a lasting cost? (CPU, pure Python.)

The runner counts Python calls per decode step (``run.python_calls``) on Python 3.12+ through
``sys.monitoring`` after a method's timed rounds; a later method's timed rounds would pay if the
interpreter kept code instrumented after the tool is freed. Times a call tree shaped like nested
modules (1,093 objects, two frames each, 20 passes), then counts it with ``run.python_calls``'
own ``count_calls`` N times, then times it again (no torch needed):

    PYTHONPATH=src python3.12 lab/monitoring_cost.py [N]     # prints the median of 7 timings, ms
"""

from __future__ import annotations

import statistics
import sys
import time

from quantbench.run.python_calls import count_calls


class Module:
    def __init__(self, kids: list["Module"]) -> None:
        self.kids = kids

    def __call__(self, x: int) -> int:
        return self.forward(x)

    def forward(self, x: int) -> int:
        for kid in self.kids:
            x = kid(x)
        return x + 1


def build(depth: int) -> Module:
    return Module([build(depth - 1) for _ in range(3)] if depth else [])


ROOT = build(6)


def work() -> None:
    for _ in range(20):
        ROOT(0)


def timed(label: str) -> None:
    xs = []
    for _ in range(7):
        start = time.perf_counter()
        work()
        xs.append(time.perf_counter() - start)
    print(label, round(statistics.median(xs) * 1000, 2), "ms")


if __name__ == "__main__":
    work()
    timed("before")
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 3):
        count_calls(work)
    timed("after")
    timed("after again")
