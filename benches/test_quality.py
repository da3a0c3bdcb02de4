"""Output quality against FP16 on fixed prompts: top-1 and greedy agreement, next-token KL.

FP16's eager run captures the reference (it always runs first); every other method and mode is
compared with it. The verdicts (``min_top1_agreement``, ``max_kl_divergence`` in
``[tool.quantbench]``) are made at the session's end with the speed and memory verdicts, so a
faster method that quietly breaks its outputs fails the session like a slowdown does, and shows
in summary.md and comparison.json.
"""

from __future__ import annotations


def test_quality(qb_model, qb_mode, quantbench, benchmark):
    case = quantbench.quality(qb_model, qb_mode, benchmark)
    for metric in case.metrics.values():
        assert metric.low <= metric.median <= metric.high
