"""Quality judged by thresholds: every method's agreement and KL against the reference method.

A faster method that quietly breaks its outputs must fail the session like a slowdown does, so
these verdicts join the speed and memory verdicts in one list (``gate``). Thresholds come from
``[tool.quantbench]``: ``min_top1_agreement`` (teacher-forced top-1 agreement, default 0.6),
``max_kl_divergence`` (0.5 nats) and ``min_token_agreement`` (free-running greedy agreement, 0 =
reported, not gated). Free-running agreement counts every token after a method's first different
token as lost, so on SmolLM2-135M it reads far below the teacher-forced top-1 agreement of the
same method (the CPU results under docs/results): it measures when texts part, not how often
the method picks FP16's token. On a synthetic (random-weight) model the next-token distribution
is nearly flat, so the reference's choice is decided by tiny logit gaps that any quantization
flips, even at a small KL: there both agreements are reported and only KL is gated.
"""

from __future__ import annotations

import math

from quantbench.catalog import REFERENCE_METHOD, spec
from quantbench.config import Settings
from quantbench.judge.compare import FAIL, INFO, PASS, Row
from quantbench.judge.reasons import Fixed, NotGated, QualityVerdict, Reason
from quantbench.results import CaseResult, Metric


def _judge(method: str, metric: str, value: float, threshold: float) -> QualityVerdict:
    if math.isnan(value):
        return QualityVerdict(method, metric, value, threshold, False)
    ok = value >= threshold if spec(metric).higher_is_better else value <= threshold
    return QualityVerdict(method, metric, value, threshold, ok)


AGREEMENTS = ("token_agreement", "top1_agreement")


def thresholds_of(settings: Settings) -> dict[str, float]:
    """The gated quality metrics and their thresholds; an agreement threshold of 0 is no gate."""
    limits = {"token_agreement": settings.min_token_agreement,
              "top1_agreement": settings.min_top1_agreement,
              "kl_divergence": settings.max_kl_divergence}
    return {name: v for name, v in limits.items() if not (name in AGREEMENTS and v == 0)}


def quality_verdicts(metrics_by_method: dict[str, dict[str, Metric]],
                     thresholds: dict[str, float]) -> list[QualityVerdict]:
    """Gate every method but the FP16 reference: each agreement in ``thresholds`` must be at least
    its threshold and KL divergence at most its (equal to the threshold passes). Metrics a
    method lacks, or that have no threshold, are not judged; a NaN value fails."""
    return [
        _judge(method, name, metrics[name].median, threshold)
        for method, metrics in metrics_by_method.items() if method != REFERENCE_METHOD
        for name, threshold in thresholds.items() if name in metrics
    ]


def quality_rows(results: list[CaseResult], settings: Settings, *, synthetic: bool) -> list[Row]:
    """One verdict row per judged quality metric of every quality case in ``results``: ``pass``
    or ``quality fail`` against its threshold; agreement on synthetic weights is ``info``."""
    rows: list[Row] = []
    limits = thresholds_of(settings)
    for case in results:
        if case.case != "quality":
            continue
        gated = {n: m for n, m in case.metrics.items() if not (synthetic and n in AGREEMENTS)}
        by_name = {v.metric: v for v in quality_verdicts({case.method: gated}, limits)}
        for name, metric in sorted(case.metrics.items()):
            verdict = by_name.get(name)
            if verdict is None:
                why: Reason = (Fixed.REFERENCE if case.method == REFERENCE_METHOD else
                               Fixed.SYNTHETIC if synthetic and name in AGREEMENTS else
                               NotGated(name) if name in AGREEMENTS else
                               Fixed.NO_THRESHOLD)
                rows.append(Row(case.case_key, case.method, name, metric.unit, None, metric,
                                None, None, INFO, why))
                continue
            rows.append(Row(case.case_key, case.method, name, metric.unit, None, metric, None,
                            None, PASS if verdict.ok else FAIL, verdict,
                            threshold=verdict.threshold))
    return rows
