"""The one-resident model pool, with fake loaders and a fake memory probe."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Callable

import pytest
from torch import nn

from quantbench.methods import LoadedModel, LoadError, LoadRequest
from quantbench.run.pool import ModelPool
from quantbench.session import Failures
from quantbench.sources import ModelSource

REQUEST = LoadRequest(ModelSource("synthetic:fake", "synthetic", "/nowhere"), "cpu", Path("/nowhere"))


class FakeProbe:
    """A ``MemoryProbe`` whose allocation the fake loaders move by known amounts."""

    def __init__(self, start: int = 0) -> None:
        self.value = start
        self.readings = 0

    def allocated(self) -> int:
        self.readings += 1
        return self.value

    def reserved(self) -> int:
        return self.value

    def reset_peak(self) -> None:
        pass

    def peak(self) -> int:
        return self.value

    def device_used(self) -> int | None:
        return None

    def rss(self) -> int:
        return 0


class FakeModel(nn.Module):
    """A tiny module (weakref-able, with exactly known tensor bytes) that frees its 'device'
    allocation when collected."""

    def __init__(self, probe: FakeProbe, nbytes: int, features: int) -> None:
        super().__init__()
        self.lin = nn.Linear(features, features, bias=False)
        self._probe_ref = weakref.ref(probe)
        self._nbytes = nbytes
        probe.value += nbytes

    def __del__(self) -> None:
        probe = self._probe_ref()
        if probe is not None:
            probe.value -= self._nbytes


class Loaders:
    """Fake loaders for fp16 (2 MB), bf16 (3 MB) and int8 (1 MB), counting their calls."""

    SIZES = {"fp16": 2_000_000, "bf16": 3_000_000, "int8": 1_000_000}

    def __init__(self, probe: FakeProbe) -> None:
        self.probe = probe
        self.calls: list[str] = []
        self.requests: list[LoadRequest] = []
        self.refs: list[weakref.ref] = []

    def loader(self, method: str) -> Callable[[LoadRequest], LoadedModel]:
        def load(req: LoadRequest) -> LoadedModel:
            self.calls.append(method)
            self.requests.append(req)
            model = FakeModel(self.probe, self.SIZES[method], features=len(self.calls) + 1)
            self.refs.append(weakref.ref(model))
            return LoadedModel(method, model, "float32", [f"{method} note"])
        return load

    def table(self) -> dict[str, Callable[[LoadRequest], LoadedModel]]:
        return {m: self.loader(m) for m in self.SIZES}


@pytest.fixture
def probe() -> FakeProbe:
    return FakeProbe(start=10_000)


@pytest.fixture
def loaders(probe: FakeProbe) -> Loaders:
    return Loaders(probe)


@pytest.fixture
def pool(probe: FakeProbe, loaders: Loaders) -> ModelPool:
    return ModelPool(REQUEST, probe, loaders=loaders.table())


def test_each_method_loads_once_however_many_acquires(pool: ModelPool, loaders: Loaders) -> None:
    first = pool.acquire("fp16")
    for _ in range(5):
        assert pool.acquire("fp16") is first
    assert loaders.calls == ["fp16"]
    assert pool.loads["fp16"] == 1
    del first
    for method in ("bf16", "bf16", "int8", "int8", "int8"):
        assert pool.acquire(method).method == method
    assert loaders.calls == ["fp16", "bf16", "int8"]
    assert dict(pool.loads) == {"fp16": 1, "bf16": 1, "int8": 1}
    assert pool.events == [("load", "fp16"), ("unload", "fp16"), ("load", "bf16"),
                           ("unload", "bf16"), ("load", "int8")]
    assert loaders.requests == [REQUEST] * 3  # every loader gets the pool's request
    assert pool.failures == {}


def test_only_one_model_is_resident(pool: ModelPool, loaders: Loaders, probe: FakeProbe) -> None:
    pool.acquire("fp16")
    assert loaders.refs[0]() is not None
    assert probe.value == 10_000 + 2_000_000
    loaded = pool.acquire("bf16")
    gc.collect()
    assert loaders.refs[0]() is None  # the previous model was dropped and collected
    assert loaders.refs[1]() is loaded.model
    assert probe.value == 10_000 + 3_000_000  # fp16's allocation is gone before bf16's reading
    del loaded
    pool.acquire("int8")
    gc.collect()
    assert [r() is None for r in loaders.refs] == [True, True, False]
    assert pool.current is not None and pool.current.method == "int8"


def test_unload_drops_the_resident_model(pool: ModelPool, loaders: Loaders) -> None:
    pool.acquire("fp16")
    pool.unload()
    gc.collect()
    assert pool.current is None
    assert loaders.refs[0]() is None
    assert pool.events == [("load", "fp16"), ("unload", "fp16")]
    pool.unload()  # nothing resident: nothing recorded
    assert pool.events == [("load", "fp16"), ("unload", "fp16")]


def test_records_weights_as_allocated_after_minus_before(pool: ModelPool, probe: FakeProbe) -> None:
    pool.acquire("fp16")
    pool.acquire("bf16")
    fp16, bf16 = pool.records["fp16"], pool.records["bf16"]
    assert fp16.weights_bytes == 2_000_000
    assert bf16.weights_bytes == 3_000_000  # fp16 freed first, so its bytes do not leak in
    # tensor bytes are the model's own tensors: a (n x n) float32 Linear, n = call count + 1
    assert fp16.tensor_bytes == 2 * 2 * 4
    assert bf16.tensor_bytes == 3 * 3 * 4
    assert fp16.notes == ["fp16 note"]
    assert fp16.prepare_seconds >= 0.0 and fp16.seconds >= 0.0


def test_weights_bytes_uses_the_reading_just_before_the_load(probe: FakeProbe) -> None:
    probe.value = 500

    def load(req: LoadRequest) -> LoadedModel:
        probe.value += 4096  # weights
        return LoadedModel("fp16", nn.Linear(1, 1, bias=False), "float32")

    pool = ModelPool(REQUEST, probe, loaders={"fp16": load})
    pool.acquire("fp16")
    assert pool.records["fp16"].weights_bytes == 4096
    assert pool.records["fp16"].tensor_bytes == 4
    assert pool.records["fp16"].notes == []


def test_failed_load_is_remembered_with_a_one_line_reason(probe: FakeProbe, loaders: Loaders) -> None:
    calls: list[int] = []

    def broken(req: LoadRequest) -> LoadedModel:
        calls.append(1)
        raise RuntimeError("checkpoint is corrupt\n  at offset 12\n  more detail")

    table = loaders.table()
    table["nf4"] = broken
    pool = ModelPool(REQUEST, probe, loaders=table)
    expected = "nf4 failed to load: RuntimeError: checkpoint is corrupt"

    with pytest.raises(LoadError) as first:
        pool.acquire("nf4")
    assert str(first.value) == expected
    assert isinstance(first.value.__cause__, RuntimeError)
    assert pool.failures == {"nf4": expected}
    assert "\n" not in pool.failures["nf4"]
    assert pool.current is None
    assert "nf4" not in pool.records and pool.loads["nf4"] == 0

    for _ in range(3):
        with pytest.raises(LoadError) as again:
            pool.acquire("nf4")
        assert str(again.value) == expected
    assert calls == [1]  # never retried

    # the other methods still load
    assert pool.acquire("fp16").method == "fp16"
    assert pool.acquire("int8").method == "int8"
    assert loaders.calls == ["fp16", "int8"]
    assert pool.failures == {"nf4": expected}


def test_the_pool_reports_into_the_sessions_one_failures_map(probe: FakeProbe, loaders: Loaders) -> None:
    def broken(req: LoadRequest) -> LoadedModel:
        raise RuntimeError("bad checkpoint")

    failures = Failures()
    failures.bench_failed("fp16", "fp16 failed in test_prefill[fp16-len128]: RuntimeError: x")
    failures.bench_failed("nf4", "nf4 failed in test_prefill[nf4-len128]: RuntimeError: y")
    table = loaders.table()
    table["nf4"] = broken
    pool = ModelPool(REQUEST, probe, loaders=table, failures=failures)
    assert pool.acquire("fp16").method == "fp16"  # a failed bench does not stop its method loading
    with pytest.raises(LoadError):
        pool.acquire("nf4")
    failures.bench_failed("nf4", "nf4 failed in test_generate[nf4-bs1-eager]: RuntimeError: z")
    assert pool.failures is failures
    assert dict(failures) == {"fp16": "fp16 failed in test_prefill[fp16-len128]: RuntimeError: x",
                              "nf4": "nf4 failed to load: RuntimeError: bad checkpoint"}
    assert failures.load_failure("fp16") is None


def test_exception_without_message_is_named_by_its_type(probe: FakeProbe) -> None:
    def broken(req: LoadRequest) -> LoadedModel:
        raise KeyError()

    pool = ModelPool(REQUEST, probe, loaders={"awq": broken})
    with pytest.raises(LoadError, match=r"^awq failed to load: KeyError$"):
        pool.acquire("awq")


def _reason(pool: ModelPool, method: str) -> str:
    """The reason after the ``<method> failed to load: `` prefix."""
    prefix = f"{method} failed to load: "
    message = pool.failures[method]
    assert message.startswith(prefix)
    return message[len(prefix):]


def test_cuda_out_of_memory_is_named(probe: FakeProbe, loaders: Loaders) -> None:
    def oom(req: LoadRequest) -> LoadedModel:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 14.75 GiB total)\nmore")

    table = loaders.table()
    table["bf16"] = oom
    pool = ModelPool(REQUEST, probe, loaders=table)
    with pytest.raises(LoadError) as exc:
        pool.acquire("bf16")
    reason = _reason(pool, "bf16")
    assert reason.startswith("out of memory while loading")
    assert reason == ("out of memory while loading bf16: RuntimeError: CUDA out of memory. "
                      "Tried to allocate 2.00 GiB (GPU 0; 14.75 GiB total)")
    assert str(exc.value) == pool.failures["bf16"]
    assert pool.acquire("int8").method == "int8"


def test_out_of_memory_error_type_is_named(probe: FakeProbe) -> None:
    class OutOfMemoryError(RuntimeError):
        pass

    def oom(req: LoadRequest) -> LoadedModel:
        raise OutOfMemoryError("allocation of 512 MiB failed")

    pool = ModelPool(REQUEST, probe, loaders={"int8": oom})
    with pytest.raises(LoadError):
        pool.acquire("int8")
    assert _reason(pool, "int8") == "out of memory while loading int8: OutOfMemoryError: allocation of 512 MiB failed"


def test_other_failures_are_not_called_out_of_memory(probe: FakeProbe) -> None:
    def broken(req: LoadRequest) -> LoadedModel:
        raise ImportError("no module named awq_ext")

    pool = ModelPool(REQUEST, probe, loaders={"awq": broken})
    with pytest.raises(LoadError):
        pool.acquire("awq")
    assert _reason(pool, "awq") == "ImportError: no module named awq_ext"


def test_failed_load_drops_the_previous_model(pool: ModelPool, loaders: Loaders, probe: FakeProbe) -> None:
    def broken(req: LoadRequest) -> LoadedModel:
        raise RuntimeError("boom")

    pool.loaders["nf4"] = broken
    pool.acquire("fp16")
    with pytest.raises(LoadError):
        pool.acquire("nf4")
    gc.collect()
    assert loaders.refs[0]() is None  # room was made before the attempt
    assert probe.value == 10_000


def test_loaders_given_means_no_preparers(probe: FakeProbe, loaders: Loaders) -> None:
    assert ModelPool(REQUEST, probe, loaders=loaders.table()).preparers == {}
    default = ModelPool(REQUEST, probe)
    assert set(default.loaders) == {"fp16", "bf16", "int8", "nf4", "awq", "awq-gemlite", "int8vw",
                                    "int8wo", "int4wo", "fp8wo", "fp8dq"}
    assert set(default.preparers) == {"awq", "awq-gemlite"}  # one cached checkpoint for both
