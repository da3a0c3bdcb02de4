"""Output quality against FP16 on fixed prompts: greedy token agreement and next-token KL.

FP16's eager run captures the reference (it always runs first); every other method and mode is
compared with it. Thresholds come from ``[tool.quantbench]`` (``min_token_agreement``,
``max_kl_divergence``): a method that crosses one fails here, so a faster method that quietly
breaks its outputs fails the session like a slowdown does.

On a synthetic (random-weight) model the next-token distribution is nearly flat, so FP16's greedy
choice is decided by tiny logit gaps that any quantization flips (on an H100, NF4 agreed on 9 %
of tokens with a KL of only 0.06 nats). There, agreement is reported but only KL is gated; with
a real checkpoint both are.
"""

from __future__ import annotations

import pytest

from quantbench.harness import Unavailable, mode_unavailable
from quantbench.quality import quality_verdicts


def test_quality(loaded_model, mode, harness, benchmark):
    reason = mode_unavailable(mode, harness.device)
    if reason:
        pytest.skip(reason)
    try:
        case = harness.quality_case(loaded_model, mode)
    except Unavailable as exc:
        pytest.skip(str(exc))
    benchmark.group = f"{case.mode}/{case.case}"
    benchmark.extra_info.update(case.to_dict())
    benchmark._mode = "quantbench: quality, not timed"
    settings = harness.settings
    gated = dict(case.metrics)
    if harness.source.synthetic:
        gated.pop("token_agreement", None)
    failed = [v.reason for v in quality_verdicts({case.method: gated},
                                                 min_agreement=settings.min_token_agreement,
                                                 max_kl=settings.max_kl_divergence) if not v.ok]
    assert not failed, "quality below threshold: " + "; ".join(failed)
