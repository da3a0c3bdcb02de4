"""``--qb-interleave`` end to end on the CPU, and the loading side of it (``run.resident``):
methods loaded beside FP16 while they fit, the rest left to their own benches with a note."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from quantbench.methods import LoadError
from quantbench.session import Failures
from quantbench.run.resident import load_beside
from session_runs import run_session


@pytest.mark.session
def test_interleaved_session_gives_each_method_its_paired_ratio(tmp_path: Path) -> None:
    session = run_session(tmp_path / "cache", tmp_path, "--qb-interleave", "--qb-methods", "fp16,bf16,int8wo",
                          "-k", "generate and bs1")
    assert session.code == 0, session.output[-3000:]
    rows = {r["method"]: r for r in session.data["results"]}
    assert set(rows) == {"fp16", "bf16", "int8wo"}
    assert "decode_ratio" not in rows["fp16"]["metrics"]
    for method in ("bf16", "int8wo"):
        for name in ("decode_ratio", "e2e_ratio"):
            m = rows[method]["metrics"][name]
            assert m["unit"] == "x" and m["n"] >= 3 and 0 < m["low"] <= m["median"] <= m["high"]
        assert any(n.startswith("ratio to FP16 interleaved with fp16, bf16, int8wo: ") for n in rows[method]["notes"])
    assert session.data["loads"] == {"fp16": 1, "bf16": 1, "int8wo": 1}  # the benches' own loads
    assert "Decode vs fp16 (paired)" in session.output
    time = session.data["time"]["per_method"]
    assert time["bf16"]["measure"] > 0 and time["int8wo"]["load"] > 0


@pytest.mark.session
def test_interleave_refuses_xdist(tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    session = run_session(tmp_path / "cache", tmp_path, "--qb-interleave", "-n", "2", "-k", "generate")
    assert session.code == 4
    assert "quantbench: --qb-interleave needs every method in one process; drop -n" in session.output


class FakePool:
    def __init__(self, fail: dict[str, str] | None = None) -> None:
        self.current = SimpleNamespace(method="fp16", model="fp16-model")
        self.failures = Failures()
        self.fail = fail or {}
        self.loaded: list[str] = []

    def load_beside(self, method: str) -> Any:
        if method in self.fail:
            raise LoadError(f"{method} failed to load beside the others: {self.fail[method]}")
        self.loaded.append(method)
        return SimpleNamespace(method=method, model=f"{method}-model")


def test_methods_load_beside_fp16_until_the_device_is_full() -> None:
    pool = FakePool()
    room = 3  # models that fit together

    models, notes = load_beside(pool, ["fp16", "bf16", "nf4", "awq", "int8"], lambda m: len(m) <= room,
                                lambda m: None)
    assert list(models) == ["fp16", "bf16", "nf4"]
    assert pool.loaded == ["bf16", "nf4", "awq"]  # awq was tried, did not fit, and was dropped
    assert notes == {"awq": ["not interleaved: it did not fit beside fp16, bf16, nf4; ratio to FP16 not paired"],
                     "int8": ["not interleaved: the device was full with fp16, bf16, nf4; "
                              "ratio to FP16 not paired"]}


def test_unavailable_and_failed_methods_are_left_to_their_own_benches() -> None:
    pool = FakePool(fail={"awq": "ValueError: bad checkpoint", "nf4": "OutOfMemoryError: CUDA out of memory"})
    pool.failures.load_failed("int8", "int8 failed to load: x")
    models, notes = load_beside(pool, ["fp16", "int4wo", "int8", "awq", "nf4", "bf16"], lambda m: True,
                                lambda m: "int4wo needs a CUDA GPU" if m == "int4wo" else None)
    assert list(models) == ["fp16"]
    assert notes == {
        "awq": ["not interleaved: awq failed to load beside the others: ValueError: bad checkpoint"],
        "nf4": ["not interleaved: nf4 failed to load beside the others: OutOfMemoryError: CUDA out of memory"],
        "bf16": ["not interleaved: the device was full with fp16; ratio to FP16 not paired"],
    }


def test_compiled_cases_are_not_interleaved_and_say_why() -> None:
    """Interleaving compiled cases compiled every method twice (beside FP16, then for its own
    bench); on one H200 AWQ's second compile failed: compiled methods run one after another."""
    from quantbench.run.resident import COMPILED_NOTE, interleave_case

    class NoLoads:
        current = SimpleNamespace(method="fp16")

        def load_beside(self, method: str) -> Any:
            raise AssertionError(f"{method} loaded for a compiled case")

    runner = SimpleNamespace(settings=SimpleNamespace(methods=("fp16", "bf16", "awq")), pool=NoLoads())
    ratios = interleave_case(runner, 1, "generate-compiled")
    assert ratios.metrics == {}
    assert ratios.notes == {"bf16": [COMPILED_NOTE], "awq": [COMPILED_NOTE]}
    assert "not paired" in COMPILED_NOTE and len(COMPILED_NOTE) <= 120
