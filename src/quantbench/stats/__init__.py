"""quantbench's statistics, in one place and on plain numbers and metrics: nothing here reads a
file, a setting or a baseline.

- ``intervals``: a median's bootstrap interval (``summarize``), Student's t quantiles (``t975``),
  the prediction interval for one more session, a median's standard error from its interval,
  one metric merged over sessions (``merge_metric``);
- ``significance``: the z-test of two intervals, the prediction test of a new session against a
  window's session medians, Holm's correction (``ALPHA``: the family-wise level);
- ``paired``: the paired t-test of K pairs' log ratios and its minimum detectable effect;
- ``changes``: change points (ruptures' PELT) and drift (a Theil-Sen line) of a series
  (``analyse``).

scipy and ruptures are imported by the functions that need them, so measuring loads neither.
docs/gating.md has the argument for each test.
"""

from __future__ import annotations

from quantbench.stats.changes import (MIN_POINTS, NOISE_FLOOR, ChangePoint, Trend, analyse, change_points, l1_cost,
                                      robust_noise, segments, theil_sen)
from quantbench.stats.intervals import (BOOTSTRAP_RESAMPLES, CONFIDENCE, Z_CRITICAL, Summary, median_interval,
                                        merge_metric, prediction_halfwidth, std_error, summarize, t975,
                                        t_quantile)
from quantbench.stats.paired import POWER, PairedTest, detectable_effect, log_ratios, paired_test
from quantbench.stats.significance import ALPHA, between_sessions, holm, p_value, pooled_spread, z_score

__all__ = [
    "ALPHA", "BOOTSTRAP_RESAMPLES", "CONFIDENCE", "MIN_POINTS", "NOISE_FLOOR", "POWER", "Z_CRITICAL",
    "ChangePoint", "PairedTest", "Summary", "Trend", "analyse", "between_sessions", "change_points",
    "detectable_effect", "holm", "l1_cost", "log_ratios", "median_interval", "merge_metric", "p_value",
    "paired_test", "pooled_spread",
    "prediction_halfwidth", "robust_noise", "segments", "std_error", "summarize", "t975",
    "t_quantile", "theil_sen", "z_score",
]
