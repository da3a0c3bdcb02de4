"""bitsandbytes INT8 under dynamo, traced on the CPU with the eager backend (no inductor, so it
runs here): LLM.int8's outlier search gives its ops data-dependent shapes and breaks the graph at
every linear layer; ``int8vw`` (threshold 0) has none and traces as one graph. This is the
mechanism behind the 37 graph breaks INT8 showed compiled on an H100 (c2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantbench.methods import METHODS, LoadRequest
from quantbench.sources import resolve_source

pytest.importorskip("bitsandbytes")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory):
    return resolve_source("synthetic:qwen2-tiny", tmp_path_factory.mktemp("cache"), 0)


def _explain(source, method: str):
    import torch._dynamo

    loaded = METHODS[method].load(LoadRequest(source, "cpu", Path("unused"), None, 0))
    ids = torch.randint(3, 1000, (1, 16), generator=torch.Generator().manual_seed(0))
    torch._dynamo.reset()
    with torch.inference_mode():
        return loaded, torch._dynamo.explain(loaded.model)(input_ids=ids)


def test_llm_int8_breaks_the_graph_on_its_dynamic_shape_ops(source) -> None:
    loaded, explained = _explain(source, "int8")
    linear_layers = sum(1 for m in loaded.model.modules() if type(m).__name__ == "Linear8bitLt")
    assert linear_layers > 0
    assert explained.graph_break_count >= linear_layers
    assert {str(b.reason).splitlines()[0] for b in explained.break_reasons} == {"Dynamic shape operator"}


def test_int8vw_traces_as_one_graph(source) -> None:
    loaded, explained = _explain(source, "int8vw")
    assert loaded.dtype.endswith("no outlier columns, float32 activations")
    assert explained.graph_break_count == 0
    assert explained.graph_count == 1
    assert all(m.state.threshold == 0.0 for m in loaded.model.modules()
               if type(m).__name__ == "Linear8bitLt")


@pytest.mark.session
def test_int8vw_session_reports_speed_memory_and_quality(tmp_path: Path) -> None:
    from session_runs import run_session

    session = run_session(tmp_path / "cache", tmp_path, "--qb-methods", "fp16,int8vw",
                          "-k", "bs1 or quality")
    assert session.code == 0, session.output[-3000:]
    rows = {(r["case"], r["method"]): r["metrics"] for r in session.data["results"]}
    assert set(rows) == {("generate-bs1", "fp16"), ("generate-bs1", "int8vw"),
                         ("quality", "fp16"), ("quality", "int8vw")}
    assert rows[("generate-bs1", "int8vw")]["weights_gb"]["median"] < rows[("generate-bs1", "fp16")]["weights_gb"]["median"]
    assert rows[("generate-bs1", "int8vw")]["e2e_tps"]["n"] >= 1
    assert 0.0 < rows[("quality", "int8vw")]["kl_divergence"]["median"] < 1.0
