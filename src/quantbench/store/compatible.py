"""Whether a stored baseline can judge a run: the same GPU, model and comparable scenario.

The refusal is ``BaselineError``'s one line: the gate, the update and the history
(``history.series``, which sits beside the judge and below the report) all say it as it is.
"""

from __future__ import annotations

from typing import Any, Mapping

from quantbench.config import differing_fields, listed
from quantbench.sources import same_model
from quantbench.store.baseline import Baseline, BaselineError, gpu_slug, model_slug


def check_compatible(
    baseline: Baseline, *, gpu: str, model_source: str, scenario: Mapping[str, Any]
) -> None:
    """Raise ``BaselineError`` when ``baseline`` cannot judge this run: another GPU, another model,
    or a comparable scenario field (``Scenario.comparable_fields``) that differs. Only fields
    present on both sides are compared, since a published baseline may state only some."""
    if gpu_slug(baseline.gpu) != gpu_slug(gpu):
        raise BaselineError(f"baseline is for {baseline.gpu}, this GPU is {gpu}")
    if model_slug(baseline.model_source) != model_slug(model_source):
        raise BaselineError(
            f"baseline is for model {baseline.model_source}, this run uses {model_source}"
        )
    if not same_model(baseline.model_source, model_source):
        raise BaselineError(f"baseline is for model {baseline.model_source}, this run uses "
                            f"{model_source} (two folders of one name share a baseline file: "
                            "rename one)")
    diffs = [f"{key}: baseline {listed(baseline.scenario[key])}, run {listed(scenario[key])}"
             for key in differing_fields(baseline.scenario, scenario, only_shared=True)]
    if diffs:
        raise BaselineError("baseline scenario differs in " + "; ".join(diffs))
