"""How strong the evidence of a change is: what each p-value of a session rests on, and the
sessions and prior a wall-clock row of a young baseline needs (the same-host A/B that would
confirm such a move is ``report.ab_command``'s). The tests themselves (the prediction test, the
z-test, Holm's correction) are ``quantbench.stats``.

Wall-clock figures (catalog family ``wall``) are judged against the spread of whole sessions,
never against one session's own interval: between processes on one machine, FP16 eager decode
spreads tens of percent while one session's interval is a few percent (docs/results/gating-evidence.md,
"The 3× prior"). With the session medians of
a baseline's window (``store.window``), the test is Student's prediction test on log medians
(``stats.between_sessions``). A /1 baseline from ``calibrate`` has no window, only its
prediction interval, read as a standard error (half-width / 1.96) in a z-test as before.

Holm's step-down correction then keeps the chance that an unchanged build fails any row of the
session at most ``ALPHA`` whatever the dependence between rows (Holm 1979): a session tests
~100 rows, and 100 tests at 5 % each would almost surely cry wolf. The CPU simulation in
tests/judge/test_false_alarms.py checks the rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Wall-clock rows fail only with this many sessions of evidence in the baseline's window.
MIN_WALL_SESSIONS = 3
# With fewer than ``MIN_WALL_SESSIONS`` sessions a wall-clock row fails only when this
# many times worse. The prior: between processes of the same build, FP16 eager decode spreads
# about 20 % in log terms and has moved 1.6x between two sessions
# (docs/results/gating-evidence.md). At 2x, simulated unchanged sessions with that spread failed
# 10 % of the time against one session (tests/judge/test_false_alarms.py); at 3x, none did.
WALL_PRIOR_FACTOR = 3.0


def factor(base: float, now: float, higher_is_better: bool) -> float:
    """How many times worse ``now`` is than ``base`` (>1 worse, <1 better; inf from or to 0)."""
    if base <= 0 or now <= 0:
        return 1.0 if base == now else math.inf
    return base / now if higher_is_better else now / base


@dataclass(frozen=True)
class Evidence:
    """What a verdict rests on: the p-value after Holm's correction (``None``: noise unknown,
    tolerance alone), the z of an interval test, and how many sessions the baseline holds."""

    p: float | None = None
    z: float | None = None
    sessions: int = 1
    wall: bool = False
