"""Memory readings through fake allocator counters, and exact tensor byte counts."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from quantbench.run import memory
from quantbench.run.memory import CpuMemory, CudaMemory, probe_for, tensor_bytes


class FakeAllocator:
    """Stands in for ``torch.cuda``'s caching-allocator counters, recording the device index."""

    def __init__(self) -> None:
        self.allocated = 0
        self.reserved = 0
        self.peak = 0
        self.indices: list[int] = []

    def alloc(self, n: int) -> None:
        self.allocated += n
        self.reserved = max(self.reserved, self.allocated)
        self.peak = max(self.peak, self.allocated)

    def free(self, n: int) -> None:
        self.allocated -= n

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def rec(value):
            def f(index=None):
                self.indices.append(index)
                return value()
            return f

        monkeypatch.setattr(torch.cuda, "memory_allocated", rec(lambda: self.allocated))
        monkeypatch.setattr(torch.cuda, "memory_reserved", rec(lambda: self.reserved))
        monkeypatch.setattr(torch.cuda, "max_memory_allocated", rec(lambda: self.peak))

        def reset(index=None):
            self.indices.append(index)
            self.peak = self.allocated

        monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", reset)


@pytest.fixture
def allocator(monkeypatch: pytest.MonkeyPatch) -> FakeAllocator:
    fake = FakeAllocator()
    fake.install(monkeypatch)
    # no NVML on this machine (or a fake one per test): make the absence certain
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setattr(memory, "_rss", lambda: 123_456)
    return fake


def test_cuda_memory_reads_the_allocator(allocator: FakeAllocator) -> None:
    probe = CudaMemory(index=1)
    allocator.alloc(1000)
    assert probe.allocated() == 1000
    allocator.alloc(500)
    allocator.free(1200)
    assert probe.allocated() == 300
    assert probe.reserved() == 1500
    assert probe.peak() == 1500
    probe.reset_peak()
    assert probe.peak() == 300
    allocator.alloc(50)
    assert probe.peak() == 350
    assert set(allocator.indices) == {1}  # every reading asks for the probe's device
    assert probe.device_used() is None  # no NVML: reported as unavailable, not as zero
    assert probe.rss() == 123_456


def test_weights_are_allocated_after_minus_before(allocator: FakeAllocator) -> None:
    """A method's footprint must not carry an earlier method's high-water mark."""
    probe = CudaMemory()
    allocator.alloc(5_000)  # an earlier model's transient peak
    allocator.free(5_000)
    allocator.alloc(100)  # the CUDA context's own small allocation
    before = probe.allocated()
    allocator.alloc(2_000)  # loading the weights
    after = probe.allocated()
    assert after - before == 2_000
    assert probe.peak() == 5_000  # why max_memory_allocated would be wrong here


def test_cuda_memory_device_used_through_nvml(allocator: FakeAllocator, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, object]] = []
    fake = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: calls.append(("init", None))

    def handle(index: int) -> str:
        calls.append(("handle", index))
        return f"gpu{index}"

    fake.nvmlDeviceGetHandleByIndex = handle
    fake.nvmlDeviceGetMemoryInfo = lambda h: SimpleNamespace(used={"gpu2": 7_000_000_000}[h], total=1, free=0)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    probe = CudaMemory(index=2)
    assert probe.device_used() == 7_000_000_000
    assert calls == [("init", None), ("handle", 2)]


def test_cuda_memory_without_driver_access(allocator: FakeAllocator, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("pynvml")

    def init() -> None:
        raise RuntimeError("NVML Shared Library Not Found")

    fake.nvmlInit = init
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert CudaMemory().device_used() is None


def test_cpu_memory_is_the_resident_set(monkeypatch: pytest.MonkeyPatch) -> None:
    readings = iter([100, 100, 100, 400, 250, 250, 50, 60, 70])
    monkeypatch.setattr(memory, "_rss", lambda: next(readings))
    probe = CpuMemory()
    assert probe.allocated() == 100
    assert probe.reserved() == 100
    probe.reset_peak()  # peak starts at 100
    assert probe.peak() == 400
    assert probe.peak() == 400  # 250 now, the peak stays
    probe.reset_peak()  # 250
    assert probe.peak() == 250  # 50 now
    assert probe.rss() == 60
    assert probe.device_used() is None


def test_real_rss_is_positive() -> None:
    assert memory._rss() > 0


def test_probe_for_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU probe reads the process's resident set and knows no device memory."""
    monkeypatch.setattr(memory, "_rss", lambda: 4321)
    probe = probe_for("cpu")
    assert isinstance(probe, CpuMemory)
    assert (probe.allocated(), probe.reserved(), probe.rss(), probe.device_used()) == (4321, 4321, 4321, None)


def test_probe_for_cuda(allocator: FakeAllocator) -> None:
    """The CUDA probe reads torch's allocator counters of device 0, not the resident set."""
    probe = probe_for("cuda")
    assert isinstance(probe, CudaMemory)
    allocator.alloc(1000)
    allocator.free(400)
    assert (probe.allocated(), probe.reserved(), probe.peak()) == (600, 1000, 1000)
    assert allocator.indices == [0, 0, 0]
    assert probe.rss() == 123_456 and probe.device_used() is None  # the fixture's RSS; no NVML


# ---------------------------------------------------------------- tensor_bytes


def test_tensor_bytes_of_a_linear_layer() -> None:
    torch.manual_seed(0)
    assert tensor_bytes(nn.Linear(4, 3)) == (4 * 3 + 3) * 4  # float32 weight and bias: 60
    assert tensor_bytes(nn.Linear(4, 3, bias=False).half()) == 4 * 3 * 2
    assert tensor_bytes(nn.Linear(4, 3).to(torch.bfloat16)) == 15 * 2


def test_tensor_bytes_counts_buffers() -> None:
    # weight, bias, running_mean, running_var: 4 x 3 floats; num_batches_tracked: one int64
    assert tensor_bytes(nn.BatchNorm1d(3)) == 4 * 3 * 4 + 8


def test_tensor_bytes_of_a_tiny_model() -> None:
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 10, bias=False))
    expected = (10 * 4) + (4 * 8 + 8) + (8 + 8) + (8 * 10)
    assert tensor_bytes(model) == expected * 4


def test_tied_weights_are_counted_once() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10, 4)
            self.head = nn.Linear(4, 10, bias=False)
            self.head.weight = self.embed.weight

    assert tensor_bytes(Tied()) == 10 * 4 * 4


def test_views_of_one_storage_are_counted_once() -> None:
    class Viewed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(6, 4))
            self.register_buffer("row", self.w.detach()[2])  # shares w's storage

    assert tensor_bytes(Viewed()) == 6 * 4 * 4


def test_distinct_equal_tensors_are_each_counted() -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Parameter(torch.zeros(5))
            self.b = nn.Parameter(torch.zeros(5))

    assert tensor_bytes(Two()) == 2 * 5 * 4


def test_empty_tensors_count_nothing() -> None:
    class Empty(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Parameter(torch.zeros(0))
            self.b = nn.Parameter(torch.zeros(0, 3))
            self.c = nn.Parameter(torch.zeros(2, dtype=torch.float64))

    assert tensor_bytes(Empty()) == 16


def test_quant_state_block_scales_are_added() -> None:
    """bitsandbytes 4-bit keeps absmax / code (and a nested state2) outside the module."""
    layer = nn.Linear(4, 4, bias=False)
    layer.weight = nn.Parameter(torch.zeros(8, dtype=torch.uint8), requires_grad=False)  # packed 4-bit: 8 B
    layer.weight.quant_state = SimpleNamespace(
        absmax=torch.zeros(2, dtype=torch.uint8),  # 2 bytes
        code=torch.zeros(16, dtype=torch.float32),  # 64 bytes
        state2=SimpleNamespace(absmax=torch.zeros(1, dtype=torch.float32)),  # 4 bytes
    )
    assert tensor_bytes(layer) == 8 + 2 + 64 + 4


def test_quant_state_tensors_shared_between_layers_are_counted_once() -> None:
    code = torch.zeros(16, dtype=torch.float32)  # one lookup table for every layer
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False))
    for layer in model:
        layer.weight.quant_state = SimpleNamespace(absmax=torch.zeros(3), code=code, state2=None)
    assert tensor_bytes(model) == 2 * (4 * 4) + 2 * (3 * 4) + 16 * 4


def test_tensor_bytes_counts_torchao_inner_tensors() -> None:
    pytest.importorskip("torchao")
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    linear = torch.nn.Linear(256, 512, bias=False).to(torch.bfloat16)
    assert tensor_bytes(linear) == 256 * 512 * 2
    quantize_(linear, Int8WeightOnlyConfig())
    inner = {name: getattr(linear.weight, name) for name in linear.weight.__tensor_flatten__()[0]}
    expected = sum(t.numel() * t.element_size() for t in inner.values())
    assert tensor_bytes(linear) == expected
    # torchao 0.18: int8 qdata, one float32 scale and one int8 zero point per output row
    assert 256 * 512 < expected < 256 * 512 * 2
