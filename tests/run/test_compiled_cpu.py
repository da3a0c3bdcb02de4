"""Compiled mode end to end on the CPU (inductor, no CUDA graphs): compile time kept out of the
timed rounds, dynamo's graph breaks counted, and a model transformers declines to compile
(bitsandbytes on the CPU) labelled as not compiled instead of reporting a clean compile, and
AWQ compiling with its KV cache on."""

from __future__ import annotations

from pathlib import Path

import pytest

from session_runs import run_session

pytestmark = pytest.mark.session  # every test here starts a real pytest benches session

pytest.importorskip("torchao")


def test_compiled_mode_on_the_cpu(tmp_path: Path) -> None:
    session = run_session(tmp_path / "cache", tmp_path, "--qb-modes", "eager,generate-compiled",
                          "--qb-methods", "fp16,int8wo,nf4,awq", "-k", "bs1")
    assert session.code == 0, session.output[-3000:]
    data = session.data
    order = [(r["mode"], r["method"]) for r in data["results"]]
    assert order == [("eager", "fp16"), ("eager", "int8wo"), ("eager", "nf4"), ("eager", "awq"),
                     ("generate-compiled", "fp16"), ("generate-compiled", "int8wo"), ("generate-compiled", "nf4"),
                     ("generate-compiled", "awq")]
    assert data["loads"] == {"fp16": 2, "int8wo": 2, "nf4": 2, "awq": 2}  # once per mode
    compiled = {r["method"]: r for r in data["results"] if r["mode"] == "generate-compiled"}
    for method in ("fp16", "int8wo", "awq"):  # dense, torchao and autoawq weights compile whole
        metrics = compiled[method]["metrics"]
        assert metrics["graph_breaks"]["median"] == 0
        assert metrics["compile_s"]["median"] > 0
        assert metrics["decode_tps"]["n"] >= 1  # one round at least (issue 19)
    # Synthetic AWQ is packed by round to nearest from the synthetic config, which keeps
    # use_cache on (autoawq's calibration saved it off; tests/methods/test_methods.py covers that fix).
    assert any(n.startswith("AWQ on synthetic weights: round-to-nearest") for n in compiled["awq"]["notes"])
    assert not any("turned the KV cache back on" in n for n in compiled["awq"]["notes"])
    nf4 = compiled["nf4"]
    assert "graph_breaks" not in nf4["metrics"]
    assert any(n.startswith("not compiled: transformers skipped torch.compile") for n in nf4["notes"])
    eager_fp16 = next(r for r in data["results"] if r["mode"] == "eager" and r["method"] == "fp16")
    assert "compile_s" not in eager_fp16["metrics"]
    per_method = data["time"]["per_method"]
    assert per_method["fp16"]["compile"] > 0 and per_method["fp16"]["warmup"] > 0


def test_quality_in_a_compiled_only_session(tmp_path: Path) -> None:
    """Without an eager run, FP16 still captures the reference (eagerly), and every method's
    compiled engine is judged on both checks: its own greedy tokens and its logits teacher-forced
    on FP16's tokens through the compiled graphs."""
    session = run_session(tmp_path / "cache", tmp_path, "--qb-modes", "generate-compiled",
                          "--qb-methods", "fp16,int8wo", "-k", "quality")
    assert session.code == 0, session.output[-3000:]
    rows = {r["method"]: r for r in session.data["results"]}
    assert {(r["mode"], r["case"]) for r in rows.values()} == {("generate-compiled", "quality")}
    fp16, int8wo = rows["fp16"]["metrics"], rows["int8wo"]["metrics"]
    assert fp16["kl_divergence"]["median"] < 1e-4  # compiling alone barely moves float32 logits
    assert fp16["token_agreement"]["median"] > 0.9
    assert int8wo["kl_divergence"]["median"] > fp16["kl_divergence"]["median"]
    assert 0.0 <= int8wo["token_agreement"]["median"] <= 1.0
