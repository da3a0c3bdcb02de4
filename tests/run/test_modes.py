"""The mode switch: compiled mode is refused on the CPU with its reason, and its compile figures
say honestly whether dynamo compiled anything."""

from __future__ import annotations

from quantbench.run.engine import compile_metrics
from quantbench.run.measure import Run


class FakeEngine:
    def __init__(self, stats: dict) -> None:
        self.stats = stats

    def compile_stats(self) -> dict:
        return self.stats


def _run(warmup_s: float) -> Run:
    run = Run()
    run.warmup_s = warmup_s
    return run


def test_compile_time_and_graph_breaks_are_reported() -> None:
    engine = FakeEngine({"graph_breaks": 3, "unique_graphs": 4,
                         "break_reasons": ["call to a bitsandbytes op", "data-dependent branch"]})
    metrics, notes = compile_metrics(engine, _run(41.5))
    assert metrics["compile_s"].median == 41.5 and metrics["compile_s"].stop == "exact"
    assert metrics["graph_breaks"].median == 3
    assert notes == ["graph break: call to a bitsandbytes op", "graph break: data-dependent branch"]


def test_graphs_run_without_cuda_graphs_are_counted_with_their_reasons() -> None:
    engine = FakeEngine({"graph_breaks": 0, "unique_graphs": 2, "break_reasons": [],
                         "cudagraph_skips": 2, "cudagraph_skip_reasons": ["mutated inputs (1 instances)"]})
    metrics, notes = compile_metrics(engine, _run(5.0))
    assert metrics["graph_breaks"].median == 0
    assert metrics["cudagraph_skips"].median == 2 and metrics["cudagraph_skips"].stop == "exact"
    assert notes == ["CUDA graphs not captured: mutated inputs (1 instances)"]


def test_a_model_dynamo_never_saw_is_not_called_compiled() -> None:
    engine = FakeEngine({"graph_breaks": 0, "unique_graphs": 0, "break_reasons": []})
    metrics, notes = compile_metrics(engine, _run(10.6))
    assert "graph_breaks" not in metrics  # "0 breaks" would claim a clean compile
    assert metrics["compile_s"].median == 10.6
    assert len(notes) == 1 and notes[0].startswith("not compiled: transformers skipped torch.compile")


def test_an_engine_without_compile_stats_reports_compile_time_only() -> None:
    metrics, notes = compile_metrics(object(), _run(2.0))
    assert set(metrics) == {"compile_s"} and notes == []


def test_engine_reads_and_resets_dynamo_counters(tmp_path) -> None:
    from torch._dynamo.utils import CompilationMetrics, _compilation_metrics, counters
    from transformers import AutoModelForCausalLM

    from quantbench.run.engine import HFEngine
    from quantbench.sources import materialize_synthetic

    model = AutoModelForCausalLM.from_pretrained(materialize_synthetic("qwen2-tiny", tmp_path, 0))
    counters["graph_break"]["left over from another model"] += 5
    engine = HFEngine(model, "generate-compiled")
    assert engine.compile_stats() == {"graph_breaks": 0, "unique_graphs": 0, "break_reasons": []}
    counters["graph_break"]["call to an opaque op"] += 2
    counters["stats"]["unique_graphs"] += 3
    assert engine.compile_stats() == {"graph_breaks": 2, "unique_graphs": 3,
                                      "break_reasons": ["call to an opaque op"]}
    kwargs = engine._mode_kwargs()
    assert kwargs["cache_implementation"] == "static"
    assert kwargs["compile_config"].mode == "default"  # a CPU model: no CUDA graphs
    assert kwargs["compile_config"]._compile_all_devices is True
    assert HFEngine(model, "eager")._mode_kwargs() == {}
    engine.on_gpu = True  # the CUDA-graph figures exist only where reduce-overhead captures graphs
    counters["inductor"]["cudagraph_skips"] += 1
    _compilation_metrics.append(CompilationMetrics(cudagraph_skip_reason="skipping cudagraphs due to cpu device (x)"))
    stats = engine.compile_stats()
    assert stats["cudagraph_skips"] == 1
    assert stats["cudagraph_skip_reasons"] == ["skipping cudagraphs due to cpu device (x)"]
    HFEngine(model, "generate-compiled")  # the next model starts from no skips and no reasons
    assert engine.compile_stats()["cudagraph_skips"] == 0
    assert engine.compile_stats()["cudagraph_skip_reasons"] == []
    counters.clear()


class _Refusing:
    """A quantizer like transformers' bitsandbytes ones: not marked compileable."""

    @property
    def is_compileable(self) -> bool:
        return False


class _QuantizedModel:
    def __init__(self, quantizer) -> None:
        self.hf_quantizer = quantizer


def test_allow_compile_lifts_a_quantizers_refusal_for_that_model_only() -> None:
    from quantbench.compat import allow_compile

    lifted, untouched = _Refusing(), _Refusing()
    note = allow_compile(_QuantizedModel(lifted))
    assert lifted.is_compileable is True and untouched.is_compileable is False
    assert isinstance(lifted, _Refusing) and type(lifted).__name__ == "_Refusing"
    assert note == ("compiled by quantbench: transformers does not mark _Refusing compileable, "
                    "so it would have run eager")


def test_allow_compile_leaves_unquantized_and_compileable_models_alone() -> None:
    from quantbench.compat import allow_compile

    class Compileable:
        is_compileable = True

    assert allow_compile(_QuantizedModel(None)) is None
    assert allow_compile(_QuantizedModel(Compileable())) is None


def test_engine_notes_lead_the_compile_notes() -> None:
    engine = FakeEngine({"graph_breaks": 1, "unique_graphs": 2, "break_reasons": ["opaque op"]})
    engine.notes = ["compiled by quantbench: transformers does not mark X compileable, so it "
                    "would have run eager"]
    metrics, notes = compile_metrics(engine, _run(3.0))
    assert metrics["graph_breaks"].median == 1
    assert notes == engine.notes + ["graph break: opaque op"]


def test_graph_break_reasons_are_cut_to_title_and_explanation() -> None:
    from quantbench.run.engine import short_reason

    seen_on_h100 = ("Dynamic shape operator\n  Explanation: Operator `bitsandbytes.int8_vectorwise_quant"
                    ".default`'s output shape depends on input Tensor data.\n  Hint: Enable tracing of "
                    "dynamic shape operators\n\n  Developer debug context: bitsandbytes\n")
    assert short_reason(seen_on_h100) == (
        "Dynamic shape operator: Operator `bitsandbytes.int8_vectorwise_quant.default`'s output "
        "shape depends on input Tensor data.")
    assert short_reason("call to an opaque op") == "call to an opaque op"


def test_records_from_before_the_rename_read_compiled_as_generate_compiled() -> None:
    """Session records and baselines written while ``compiled`` named generate's compiled path
    read under its current name, so old sessions, maps and baselines keep their meaning."""
    from pathlib import Path

    from quantbench.store.baseline import from_json
    from quantbench.results import CaseResult

    old = CaseResult.from_dict({"scenario": "default", "mode": "compiled", "case": "generate-bs1",
                                "method": "fp16", "metrics": {}})
    assert (old.mode, old.case_key) == ("generate-compiled", "generate-compiled/generate-bs1")
    committed = Path(__file__).parents[2] / "baselines/nvidia-h100-80gb-hbm3/synthetic-qwen2.5-0.5b-instruct.json"
    text = committed.read_text()
    assert '"compiled/generate-bs1"' in text
    keys = set(from_json(text).results)
    assert "generate-compiled/generate-bs1" in keys and not any(k.startswith("compiled/") for k in keys)
