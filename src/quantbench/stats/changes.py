"""Thin wrappers for change points and drift over a series: a robust noise estimate, ruptures'
PELT segmentation with an l1 cost, and a Theil-Sen line (``scipy.stats.theilslopes``).
``history.trend`` says why these and how a series is judged with them; ruptures and scipy are
imported when a series is analysed, not before.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

NOISE_FLOOR = 1e-4  # relative: an exact count's series has no noise; any step is real


def robust_noise(values: Sequence[float]) -> float:
    """The noise of one point from the differences of neighbours, blind to a few steps."""
    diffs = np.diff(np.asarray(values, dtype=float))
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    return max(mad / 0.6745 / math.sqrt(2), NOISE_FLOOR)


def segments(n: int, breaks: Sequence[int]) -> list[tuple[int, int]]:
    """The ``(start, end)`` of each segment of ``n`` points cut before each of ``breaks``."""
    edges = [0, *breaks, n]
    return list(zip(edges, edges[1:]))


def change_points(z: np.ndarray, penalty: float, min_size: int) -> list[int]:
    """Where new segments start, by PELT with the ``l1`` cost and ``penalty`` per change point."""
    import ruptures

    return ruptures.Pelt(model="l1", min_size=min_size, jump=1).fit(z).predict(pen=penalty)[:-1]


def l1_cost(z: np.ndarray, breaks: Sequence[int]) -> float:
    """The l1 cost of a segmentation: each point's distance to its segment's median."""
    return sum(float(np.abs(z[a:b] - np.median(z[a:b])).sum()) for a, b in segments(len(z), breaks))


def theil_sen(y: np.ndarray) -> Any:
    """The Theil-Sen line of ``y`` over its index, with its slope's 95 % interval (scipy's
    result: ``slope``, ``intercept``, ``low_slope``, ``high_slope``)."""
    from scipy.stats import theilslopes

    return theilslopes(y, np.arange(len(y), dtype=float), alpha=0.95)
