"""Device work from profiler records: kernel families, record reduction, per-step figures by
difference, and the profiled pass driven through a fake engine and a fake profiler."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from quantbench.catalog import SPECS
from quantbench.run.device import (CPU_NOTE, FAMILIES, DeviceWork, Event, device_metrics,
                                   device_work, events_from_activity, family, per_unit)
from quantbench.run.measure import MeasurementError

# Kernel names as CUPTI reports them (cuBLAS, CUTLASS, FlashAttention, bitsandbytes, ATen,
# torch.compile's Triton kernels), each with the family it is reported under.
KERNELS = [
    ("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize64x64x64_warpgroupsize1x1x1_execute_segment"
     "_k_off_kernel__5x_cublas", "gemm"),
    ("ampere_fp16_s16816gemm_fp16_128x64_ldg8_f2f_stages_64x4_tn", "gemm"),
    ("nvjet_tst_64x8_64x16_2x1_v_bz_splitK_TNT", "gemm"),
    ("void gemv2T_kernel_val<int, int, __half, __half, float, float, 128, 16, 4, 4, false, false, "
     "true, false, false>(cublasGemvParamsEx<int, cublasGemvTensorStridedBatched<__half const>, "
     "cublasGemvTensorStridedBatched<__half const>, cublasGemvTensorStridedBatched<__half>, float>, "
     "float, float)", "gemm"),
    ("void cutlass::Kernel2<cutlass_80_wmma_tensorop_f16_s161616gemm_f16_32x32_128x1_tn_align8>"
     "(cutlass_80_wmma_tensorop_f16_s161616gemm_f16_32x32_128x1_tn_align8::Params)", "gemm"),
    ("void splitKreduce_kernel<32, 16, int, float, __half, float, __half, true, false, false>"
     "(cublasSplitKParams<float>, float const*, __half const*, __half*, float const*, float const*, "
     "__half const*, float const*, __half*, void*, long, float*, int*)", "gemm"),
    ("triton_tem_fused_mm_3", "gemm"),
    ("void flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 64, 4, false, false, cutlass::half_t, "
     "Flash_kernel_traits<128, 128, 64, 4, cutlass::half_t> >, false, true, false, false, true, "
     "true, false, false>(Flash_fwd_params)", "attention"),
    ("fmha_cutlassF_f16_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel<cutlass::half_t, "
     "cutlass::arch::Sm80, true, 64, 64, 64, true, true>::Params)", "attention"),
    ("void (anonymous namespace)::softmax_warp_forward<c10::Half, c10::Half, float, 7, false, false>"
     "(c10::Half*, c10::Half const*, int, int, int, bool const*, int, bool)", "attention"),
    ("void kgemm_4bit_inference_naive<__half, 128, 16>(int, int, int, __half*, unsigned char*, "
     "float*, float const*, __half*, int, int, int, int)", "quant"),
    ("void kDequantizeBlockwise<__half, 512, 64, 8, 2>(float*, unsigned char*, float*, __half*, int, "
     "int)", "quant"),
    ("void kInt8VectorQuant<__half, 1024, 0>(__half*, signed char*, float*, float, int, int)", "quant"),
    ("void at::native::tinygemm_m16n8k16_chunk_kernel<(at::native::KReductionType)0, "
     "(at::native::ALayout)0, (at::native::BLayout)1, 8, 8>(void const*, void const*, void*, int, "
     "int, int, int, int)", "quant"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::Half>, "
     "std::array<char*, 3ul> >(int, at::native::CUDAFunctor_add<c10::Half>, std::array<char*, 3ul>)",
     "norm"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::(anonymous namespace)::"
     "silu_kernel(at::TensorIteratorBase&)::{lambda()#1}::operator()() const::{lambda()#4}::operator()"
     "() const::{lambda(c10::Half)#1}, std::array<char*, 2ul> >(int, at::native::(anonymous "
     "namespace)::silu_kernel(at::TensorIteratorBase&)::{lambda()#1}::operator()() const::{lambda()#4}"
     "::operator()() const::{lambda(c10::Half)#1}, std::array<char*, 2ul>)", "norm"),
    ("void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::MeanOps<float, "
     "float, float, float>, unsigned int, float, 4, 4> >(at::native::ReduceOp<float, "
     "at::native::MeanOps<float, float, float, float>, unsigned int, float, 4, 4>)", "norm"),
    ("FusedAddRMSNormKernel", "norm"),
    ("triton_red_fused__to_copy_add_mean_mul_pow_rsqrt_1", "norm"),
    ("triton_poi_fused_mul_silu_2", "norm"),
    ("triton_poi_fused__to_copy_0", "copy"),
    ("triton_poi_fused_cat_4", "copy"),
    ("Memcpy DtoD (Device -> Device)", "copy"),
    ("Memcpy HtoD (Pageable -> Device)", "copy"),
    ("Memset (Device)", "copy"),
    ("void at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl_nocast<"
     "at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda()#3}::operator()() const"
     "::{lambda()#12}::operator()() const::{lambda(c10::BFloat16)#1}>(at::TensorIteratorBase&, "
     "at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda()#3}::operator()() const"
     "::{lambda()#12}::operator()() const::{lambda(c10::BFloat16)#1} const&)::{lambda(int)#1}>(int, "
     "at::native::gpu_kernel_impl_nocast<at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)"
     "::{lambda()#3}::operator()() const::{lambda()#12}::operator()() const::{lambda(c10::BFloat16)#1}>"
     "(at::TensorIteratorBase&, at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::"
     "{lambda()#3}::operator()() const::{lambda()#12}::operator()() const::{lambda(c10::BFloat16)#1} "
     "const&)::{lambda(int)#1})", "copy"),
    ("void at::native::(anonymous namespace)::CatArrayBatchedCopy<at::native::(anonymous namespace)::"
     "OpaqueType<2u>, unsigned int, 4, 64, 64>(at::native::(anonymous namespace)::OpaqueType<2u>*, "
     "at::native::(anonymous namespace)::CatArrInputTensorMetadata<at::native::(anonymous "
     "namespace)::OpaqueType<2u>, unsigned int, 64, 64>, at::native::(anonymous namespace)::"
     "TensorSizeStride<unsigned int, 4u>, int, unsigned int)", "copy"),
    ("void at::native::(anonymous namespace)::indexSelectSmallIndex<c10::Half, long, unsigned int, 2, "
     "2, -2>(at::cuda::detail::TensorInfo<c10::Half, unsigned int>, at::cuda::detail::TensorInfo<"
     "c10::Half const, unsigned int>, at::cuda::detail::TensorInfo<long const, unsigned int>, int, "
     "int, unsigned int, long)", "copy"),
    ("void at::native::triu_tril_kernel<bool, int, false, 4, true>(at::cuda::detail::TensorInfo<bool, "
     "int>, at::cuda::detail::TensorInfo<bool const, int>, long, long, long, int)", "other"),
]


@pytest.mark.parametrize("name,expected", KERNELS, ids=[f"{e}-{i}" for i, (_, e) in enumerate(KERNELS)])
def test_family_of_real_kernel_names(name: str, expected: str) -> None:
    assert family(name) == expected


def test_every_family_has_a_catalogued_metric() -> None:
    assert {f"kernel_us_{f}" for f in FAMILIES} <= set(SPECS)


# One record of each kind the profiler gives, and the events they reduce to.
RECORDS = [
    ("sm90_xmma_gemm_f16f16", "kernel", 12_500),
    ("Memcpy DtoD (Device -> Device)", "gpu_memcpy", 1_000),
    ("Memset (Device)", "gpu_memset", 250),
    ("cudaLaunchKernel", "cuda_runtime", 4_000),
    ("cudaLaunchKernel_ptsz", "cuda_runtime", 4_000),
    ("cudaLaunchKernelExC", "cuda_runtime", 4_000),
    ("cuLaunchKernelEx", "cuda_driver", 3_000),
    ("cudaGraphLaunch", "cuda_runtime", 9_000),
    ("cudaMemcpyAsync", "cuda_runtime", 2_000),  # a copy is not a kernel launch
    ("cudaStreamSynchronize", "cuda_runtime", 50_000),
    ("ProfilerStep#1", "gpu_user_annotation", 99_000),  # a span, not work
    ("cudaDeviceSynchronize", "cuda_sync", 10_000),
    ("aten::mm", "cpu_op", 20_000),
]
EVENTS = [
    Event("sm90_xmma_gemm_f16f16", 12.5, device=True),
    Event("Memcpy DtoD (Device -> Device)", 1.0, device=True),
    Event("Memset (Device)", 0.25, device=True),
    Event("cudaLaunchKernel", launch=True),
    Event("cudaLaunchKernel_ptsz", launch=True),
    Event("cudaLaunchKernelExC", launch=True),
    Event("cuLaunchKernelEx", launch=True),
    Event("cudaGraphLaunch", graph_launch=True),
    Event("cudaStreamSynchronize", 50.0, sync=True),
]


def test_events_keep_device_work_launches_and_syncs_only() -> None:
    assert events_from_activity(RECORDS) == EVENTS


def test_device_work_sums_time_counts_ops_and_splits_by_family() -> None:
    work = device_work(EVENTS + [Event("flash_fwd_kernel", 4.0, device=True)])
    assert (work.kernel_us, work.kernels, work.launches, work.graph_launches) == (17.75, 4, 4, 1)
    assert work.by_family == {"gemm": 12.5, "attention": 4.0, "quant": 0.0, "norm": 0.0,
                              "copy": 1.25, "other": 0.0}


def test_per_unit_is_the_difference_per_unit_and_floors_family_noise() -> None:
    fams = dict.fromkeys(FAMILIES, 0.0)
    longer = DeviceWork(100.0, 40, 36, 4, {**fams, "gemm": 80.0, "other": 1.0})
    shorter = DeviceWork(20.0, 8, 4, 0, {**fams, "gemm": 16.0, "other": 1.5})
    step = per_unit(longer, shorter, 4)
    assert (step.kernel_us, step.kernels, step.launches, step.graph_launches) == (20.0, 8, 8, 1)
    assert step.by_family["gemm"] == 16.0
    assert step.by_family["other"] == 0.0  # -0.125 of noise shown as none


def test_timed_records_give_the_span_and_the_hosts_wait() -> None:
    # A graph launch at 0 µs, its two kernels 5-45 and 46-96 µs, the host synchronising from 20
    # to 100 µs: the host waited 80 µs of the 100 µs span, and was busy the other 20.
    records = [("cudaGraphLaunch", "cuda_runtime", 6_000, 0),
               ("gemm_a", "kernel", 40_000, 5_000),
               ("gemm_b", "kernel", 50_000, 46_000),
               ("cudaStreamSynchronize", "cuda_runtime", 80_000, 20_000)]
    events = events_from_activity(records)
    assert events[1] == Event("gemm_a", 40.0, device=True, start_us=5.0)
    work = device_work(events)
    assert (work.kernel_us, work.sync_wait_us, work.span_us) == (90.0, 80.0, 100.0)


def test_a_record_without_a_start_leaves_the_span_unknown() -> None:
    work = device_work(events_from_activity([("gemm_a", "kernel", 40_000, 5_000),
                                             ("cudaStreamSynchronize", "cuda_runtime", 9_000)]))
    assert (work.sync_wait_us, work.span_us) == (9.0, None)


def test_per_unit_carries_wait_and_span_and_drops_an_unknown_span() -> None:
    fams = dict.fromkeys(FAMILIES, 0.0)
    longer = DeviceWork(100.0, 4, 4, 4, fams, sync_wait_us=90.0, span_us=130.0)
    shorter = DeviceWork(20.0, 1, 1, 1, fams, sync_wait_us=10.0, span_us=30.0)
    step = per_unit(longer, shorter, 4)
    assert (step.sync_wait_us, step.span_us) == (20.0, 25.0)
    assert per_unit(longer, DeviceWork(20.0, 1, 1, 1, fams), 4).span_us is None


class TimedGpuEngine:
    """Each decode step on a timeline: a graph launch, ``kernel_us`` of kernels, the host
    blocked ``wait_us`` in a synchronise, then ``busy_us`` of host work before the next step.
    A 1-token call is one such step; prefill is one kernel."""

    on_gpu = True

    def __init__(self, kernel_us: float, wait_us: float, busy_us: float) -> None:
        self.kernel_us, self.wait_us, self.busy_us = kernel_us, wait_us, busy_us
        self.events: list[Event] = []

    def generate(self, prompt, new_tokens, on_step) -> int:
        t = 0.0
        for _ in range(new_tokens):
            self.events += [Event("cudaGraphLaunch", graph_launch=True, start_us=t),
                            Event("gemv_kernel", self.kernel_us, device=True, start_us=t + 1),
                            Event("cudaStreamSynchronize", self.wait_us, sync=True, start_us=t + 2)]
            t += 2 + self.wait_us + self.busy_us
            on_step()
        return new_tokens

    def prefill(self, prompt) -> None:
        self.events.append(Event("gemm", 5.0, device=True, start_us=0.0))


def test_device_metrics_split_the_hosts_time_into_waiting_and_busy() -> None:
    # 100 µs of kernels a step, the host waits 300 µs and works 50 (+2 launching): the GPU idles
    # ~252 µs a step while the host waits longer than the kernels run, so >= 200 µs of that idling
    # is the device's own.
    engine = TimedGpuEngine(kernel_us=100.0, wait_us=300.0, busy_us=50.0)
    m = device_metrics(engine, PROMPT, 9, decode_step_ms=None, profile=profiler_of(engine))
    assert m["decode_kernel_us"].median == 100.0
    assert m["decode_sync_wait_us"].median == 300.0
    assert m["decode_host_busy_us"].median == 52.0
    assert SPECS["decode_host_busy_us"].kind == SPECS["decode_sync_wait_us"].kind == "info"


def test_untimed_events_give_the_wait_but_no_busy_share() -> None:
    engine = FakeGpuEngine()
    m = device_metrics(engine, PROMPT, 5, decode_step_ms=0.05, profile=profiler_of(engine))
    assert m["decode_sync_wait_us"].median == 0.0
    assert "decode_host_busy_us" not in m


class FakeGpuEngine:
    """Emits known profiler events: every call a setup copy, each forward its kernels.

    Prefill forward: 3 GEMMs of 8 µs. Each decode step: one GEMM (``gemm_us``), one attention
    kernel of 2 µs, one elementwise kernel of 0.5 µs, 3 launches, 1 graph launch."""

    on_gpu = True

    def __init__(self, gemm_us: float = 10.0, short_by: int = 0) -> None:
        self.events: list[Event] = []
        self.gemm_us = gemm_us
        self.short_by = short_by
        self.calls: list[tuple[str, int]] = []

    def _forward_prefill(self) -> None:
        self.events += [Event("sm90_xmma_gemm_f16", 8.0, device=True)] * 3
        self.events += [Event("cudaLaunchKernel", launch=True)] * 3

    def _step(self) -> None:
        self.events += [Event("ampere_fp16_s16816gemm", self.gemm_us, device=True),
                        Event("flash_fwd_kernel", 2.0, device=True),
                        Event("vectorized_elementwise_kernel", 0.5, device=True),
                        *[Event("cudaLaunchKernel", launch=True)] * 3,
                        Event("cudaGraphLaunch", graph_launch=True)]

    def generate(self, prompt, new_tokens, on_step) -> int:
        self.calls.append(("generate", new_tokens))
        self.events.append(Event("Memcpy HtoD (Pageable -> Device)", 1.0, device=True))
        self._forward_prefill()
        on_step()
        for _ in range(new_tokens - 1 - self.short_by):
            self._step()
            on_step()
        return new_tokens - self.short_by

    def prefill(self, prompt) -> None:
        self.calls.append(("prefill", 0))
        self._forward_prefill()


def profiler_of(engine: FakeGpuEngine):
    def profile(fn):
        engine.events = []
        fn()
        return engine.events
    return profile


PROMPT = SimpleNamespace(batch=2, length=6)


def test_device_metrics_per_step_and_per_prompt_token() -> None:
    engine = FakeGpuEngine()
    m = device_metrics(engine, PROMPT, 5, decode_step_ms=0.05, profile=profiler_of(engine))
    assert engine.calls == [("generate", 5), ("generate", 1), ("prefill", 0)]
    assert m["decode_kernel_us"].median == 12.5
    assert m["decode_kernels"].median == 3
    assert m["decode_launches"].median == 3
    assert m["decode_graph_launches"].median == 1
    assert m["prefill_kernel_us"].median == 2.0  # 24 µs over 2 × 6 prompt tokens
    assert {f: m[f"kernel_us_{f}"].median for f in FAMILIES} == {
        "gemm": 10.0, "attention": 2.0, "quant": 0.0, "norm": 0.5, "copy": 0.0, "other": 0.0}
    assert m["decode_host_us"].median == 37.5  # 50 µs of wall per step minus 12.5 on the GPU
    assert m["gpu_busy_pct"].median == 25.0
    for name, metric in m.items():
        assert metric.unit == SPECS[name].unit
        assert (metric.low, metric.high, metric.n) == (metric.median, metric.median, 1)
    assert m["decode_kernel_us"].stop == "fixed" and m["decode_kernels"].stop == "exact"


def test_repeated_rounds_give_the_median_and_its_interval() -> None:
    engine = FakeGpuEngine()
    costs = iter([10.0, 12.0, 11.0])
    base = profiler_of(engine)

    def profile(fn):
        if engine.calls == [] or engine.calls[-1][0] == "prefill":
            engine.gemm_us = next(costs)  # each round's GEMM is a little slower or faster
        return base(fn)

    m = device_metrics(engine, PROMPT, 3, decode_step_ms=None, rounds=3, profile=profile)
    kernel = m["decode_kernel_us"]
    assert (kernel.median, kernel.n, kernel.stop) == (13.5, 3, "fixed")
    assert 12.5 <= kernel.low <= kernel.median <= kernel.high <= 14.5
    assert m["decode_kernels"].median == 3 and m["decode_kernels"].high == 3
    assert "decode_host_us" not in m and "gpu_busy_pct" not in m  # no wall time given


def test_host_time_is_floored_at_zero() -> None:
    engine = FakeGpuEngine()
    m = device_metrics(engine, PROMPT, 4, decode_step_ms=0.01, profile=profiler_of(engine))
    assert m["decode_host_us"].median == 0.0
    assert m["gpu_busy_pct"].median == 125.0  # summed kernel time can exceed wall (streams overlap)


def test_cpu_engine_is_not_profiled() -> None:
    engine = FakeGpuEngine()
    engine.on_gpu = False
    assert device_metrics(engine, PROMPT, 8, decode_step_ms=1.0) == {}
    assert engine.calls == []
    assert CPU_NOTE == "device time: not measured on the CPU"


def test_a_profile_without_kernels_is_an_error_not_free_gpu_work() -> None:
    engine = FakeGpuEngine()
    with pytest.raises(MeasurementError, match="the CUDA profiler recorded no kernels"):
        device_metrics(engine, PROMPT, 5, decode_step_ms=1.0, profile=lambda fn: (fn(), [])[1])


def test_short_generation_and_too_few_tokens_are_errors() -> None:
    engine = FakeGpuEngine(short_by=1)
    with pytest.raises(MeasurementError, match="produced 4 tokens, expected 5"):
        device_metrics(engine, PROMPT, 5, decode_step_ms=1.0, profile=profiler_of(engine))
    with pytest.raises(ValueError, match="at least 2"):
        device_metrics(FakeGpuEngine(), PROMPT, 1, decode_step_ms=1.0, profile=lambda fn: [])


def test_real_cuda_records_count_kernels_launches_and_graph_replays() -> None:
    """On a GPU only: eager ops launch one kernel each, and a replayed CUDA graph is one graph
    launch whose kernels still appear as kernel records (CUDA 12+)."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from quantbench import compat

    x = torch.ones(1024, device="cuda")

    def adds() -> None:
        for _ in range(10):
            x.add_(1)

    adds()
    eager = device_work(events_from_activity(compat.cuda_activity(adds)))
    assert (eager.kernels, eager.launches, eager.graph_launches) == (10, 10, 0)
    assert eager.kernel_us > 0 and eager.by_family["norm"] == eager.kernel_us

    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        adds()
    torch.cuda.current_stream().wait_stream(stream)
    with torch.cuda.graph(graph):
        adds()
    replay = device_work(events_from_activity(compat.cuda_activity(graph.replay)))
    assert (replay.kernels, replay.launches, replay.graph_launches) == (10, 0, 1)


class _OldKinetoEvent:
    """A torch 2.11 ``_KinetoEvent``: no ``activity_type()``."""

    def __init__(self, name: str, on_gpu: bool, annotation: bool = False) -> None:
        self._name, self._gpu, self._annotation = name, on_gpu, annotation

    def name(self) -> str:
        return self._name

    def device_type(self):
        from torch.autograd import DeviceType

        return DeviceType.CUDA if self._gpu else DeviceType.CPU

    def is_user_annotation(self) -> bool:
        return self._annotation


def test_activity_types_are_told_from_the_device_type_on_torch_2_11() -> None:
    from quantbench.compat import activity_type

    cases = {("void at::native::vectorized_elementwise_kernel<4>(int)", True, False): "kernel",
             ("Memcpy DtoD (Device -> Device)", True, False): "gpu_memcpy",
             ("Memset (Device)", True, False): "gpu_memset",
             ("Context Sync", True, False): "cuda_sync",
             ("qb::decode", True, True): "gpu_user_annotation",
             ("cudaLaunchKernel", False, False): "cuda_runtime",
             ("cudaGraphLaunch_v10000", False, False): "cuda_runtime",
             ("cuLaunchKernel", False, False): "cuda_driver"}
    for (name, gpu, annotation), expected in cases.items():
        assert activity_type(_OldKinetoEvent(name, gpu, annotation)) == expected, name


def test_syncs_copies_and_allocations_are_counted_per_step() -> None:
    """A ``.item()`` per decode step is a DtoH copy and a stream synchronisation per step; a
    device-to-device copy is device work but no host transfer; allocation calls are counted."""
    def records(steps: int) -> list[tuple[str, str, int]]:
        out = [("Memcpy HtoD (Pageable -> Device)", "gpu_memcpy", 1000),  # the prompt, once
               ("cudaDeviceSynchronize", "cuda_runtime", 10), ("cudaMalloc", "cuda_runtime", 10)]
        for _ in range(steps):
            out += [("gemv_kernel", "kernel", 5000), ("cudaLaunchKernel", "cuda_runtime", 3),
                    ("Memcpy DtoD (Device -> Device)", "gpu_memcpy", 500),
                    ("Memcpy DtoH (Device -> Pinned)", "gpu_memcpy", 800),
                    ("cudaMemcpyAsync", "cuda_runtime", 4), ("cudaStreamSynchronize", "cuda_runtime", 9)]
        return out

    many, one = (device_work(events_from_activity(records(n))) for n in (9, 1))
    step = per_unit(many, one, 8)
    assert (step.syncs, step.transfers, step.allocs) == (1.0, 1.0, 0.0)
    assert step.kernels == 3.0 and step.launches == 1.0  # the kernel and both copies
    assert (one.syncs, one.transfers, one.allocs) == (2.0, 2.0, 1.0)
    engine = FakeGpuEngine()
    m = device_metrics(engine, PROMPT, 5, decode_step_ms=0.05, profile=profiler_of(engine))
    assert (m["decode_syncs"].median, m["decode_copies"].median) == (0.0, 0.0)
    assert m["decode_syncs"].stop == "exact" and SPECS["decode_syncs"].family == "host"
    assert SPECS["decode_copies"].kind == "count" and SPECS["decode_allocs"].kind == "info"
