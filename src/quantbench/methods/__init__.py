"""The quantization methods: one small registered entry each, with a load and an availability check.

Heavy libraries (bitsandbytes, autoawq) are imported inside ``load`` or the check, so a missing
one makes only its own method unavailable, with the reason.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from quantbench import compat
from quantbench.methods.base import LoadedModel, LoadError, LoadRequest, Method, Unavailable
from quantbench.methods import awq

# FP8 tensor cores: Ada (8.9) and Hopper (9.0) on; a T4 (7.5) or an A100 (8.0) has none.
FP8_CAPABILITY = (8, 9)

__all__ = ["METHODS", "LoadedModel", "LoadError", "LoadRequest", "Method", "Unavailable", "unavailable_reason"]


def _dtype_for(device: str, half: str):
    import torch

    if half == "bf16":
        return torch.bfloat16
    return torch.float16 if device == "cuda" else torch.float32


def _from_pretrained(req: LoadRequest, **kwargs: Any):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        req.source.location, device_map=req.device, **kwargs
    ).eval()


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def load_fp16(req: LoadRequest) -> LoadedModel:
    """FP16 on a GPU; float32 on the CPU, where half-precision matmuls are not the norm."""
    dtype = _dtype_for(req.device, "fp16")
    notes = [] if req.device == "cuda" else ["fp16 runs as float32 on the CPU"]
    return LoadedModel("fp16", _from_pretrained(req, dtype=dtype), _dtype_name(dtype), notes)


def load_bf16(req: LoadRequest) -> LoadedModel:
    import torch

    return LoadedModel("bf16", _from_pretrained(req, dtype=torch.bfloat16), "bfloat16")


def _bnb_int8(req: LoadRequest, name: str, threshold: float, label: str) -> LoadedModel:
    from transformers import BitsAndBytesConfig

    dtype = _dtype_for(req.device, "fp16")
    config = BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=threshold)
    model = _from_pretrained(req, quantization_config=config, dtype=dtype)
    return LoadedModel(name, model, f"{label}, {_dtype_name(dtype)} activations")


def load_int8(req: LoadRequest) -> LoadedModel:
    """bitsandbytes LLM.int8: int8 weights, outlier columns in half precision."""
    return _bnb_int8(req, "int8", 6.0, "int8 weights")


def load_int8vw(req: LoadRequest) -> LoadedModel:
    """bitsandbytes INT8 vector-wise, without LLM.int8's outlier decomposition (threshold 0).

    Finding the outlier columns gives bitsandbytes' ops data-dependent output shapes, so
    dynamo breaks the graph at every linear layer; with
    threshold 0 those ops have static shapes and dynamo traces the model as one graph (checked
    on the CPU, ``tests/methods/test_int8_graph.py``). The price is accuracy on activations with
    outliers, which the quality check reports."""
    return _bnb_int8(req, "int8vw", 0.0, "int8 weights, no outlier columns")


def load_nf4(req: LoadRequest) -> LoadedModel:
    """bitsandbytes 4-bit NormalFloat weights with fp16 compute (bf16 on the CPU)."""
    import torch
    from transformers import BitsAndBytesConfig

    compute = torch.float16 if req.device == "cuda" else torch.bfloat16
    config = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute
    )
    model = _from_pretrained(req, quantization_config=config, dtype=compute)
    return LoadedModel("nf4", model, f"nf4 weights, {_dtype_name(compute)} compute")


def load_awq(req: LoadRequest) -> LoadedModel:
    return awq.load(req)


def load_awq_gemlite(req: LoadRequest) -> LoadedModel:
    from quantbench.methods import awq_gemlite  # gemlite: imported at load only

    return awq_gemlite.load(req)


def prepare_awq(req: LoadRequest) -> list[str]:
    return awq.prepare(req)


def _torchao(req: LoadRequest, name: str, config: Any, label: str) -> LoadedModel:
    """Load the half-precision model and quantize its linear layers with torchao in place.

    torchao's weight-only tensors are tensor subclasses written for ``torch.compile``, so
    unlike bitsandbytes they compile (transformers sees no quantizer and compiles the model)."""
    from torchao.quantization import quantize_

    half = METHODS[name].half
    dtype = _dtype_for(req.device, half) if req.device == "cuda" else _dtype_for(req.device, "bf16")
    model = _from_pretrained(req, dtype=dtype)
    quantize_(model, config)
    return LoadedModel(name, model, f"{label}, {_dtype_name(dtype)} activations")


def torchao_config(name: str) -> Any:
    """The torchao config each torchao method quantizes with (also used by ``lab/int4_split.py``).

    * ``int8wo``: per-channel int8 weights, half-precision activations;
    * ``int4wo``: int4 weights, group size 128, on PyTorch's own tinygemm kernel
      (``tile_packed_to_4d``, bfloat16 activations); torchao's default ``plain`` packing needs
      the separate fbgemm-gpu-genai kernels, which a plain torch install lacks;
    * ``fp8wo``: e4m3 weights with one scale per output row; the matmul runs in bfloat16 on the
      dequantized weight (the bytes read per token are what it saves);
    * ``fp8dq``: e4m3 weights per output row and each token's activations quantized on the fly:
      Hopper's FP8 tensor-core matmul.

    Each leaves inductor's settings alone (``set_inductor_config=False``): torchao's default
    turns on coordinate-descent tuning for the whole process, so every method compiled after the
    first torchao load, FP16 included, compiled with it and the others without, so the kernel
    time and launches of a method would depend on the order methods ran. Every method compiles
    alike.
    """
    from torchao import quantization as q

    configs = {
        "int8wo": lambda: q.Int8WeightOnlyConfig(),
        "int4wo": lambda: q.Int4WeightOnlyConfig(group_size=128, int4_packing_format="tile_packed_to_4d"),
        "fp8wo": lambda: q.Float8WeightOnlyConfig(granularity=q.PerRow()),
        "fp8dq": lambda: q.Float8DynamicActivationFloat8WeightConfig(granularity=q.PerRow()),
    }
    return dataclasses.replace(configs[name](), set_inductor_config=False)


def load_int8wo(req: LoadRequest) -> LoadedModel:
    return _torchao(req, "int8wo", torchao_config("int8wo"), "int8 weights (torchao)")


def load_int4wo(req: LoadRequest) -> LoadedModel:
    return _torchao(req, "int4wo", torchao_config("int4wo"), "int4 weights g128 (torchao tinygemm)")


def load_fp8wo(req: LoadRequest) -> LoadedModel:
    return _torchao(req, "fp8wo", torchao_config("fp8wo"), "fp8 e4m3 weights, row-wise scales (torchao)")


def load_fp8dq(req: LoadRequest) -> LoadedModel:
    return _torchao(req, "fp8dq", torchao_config("fp8dq"),
                    "fp8 e4m3 weights and dynamic activations, row-wise scales (torchao)")


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("fp16", (), load_fp16),
        Method("bf16", (), load_bf16, half="bf16"),
        Method("int8", ("bitsandbytes",), load_int8,
               uncapturable="bitsandbytes LLM.int8 checks for outlier columns on the host every forward"),
        Method("nf4", ("bitsandbytes",), load_nf4),
        Method("awq", ("awq",), load_awq, cuda_packages=("triton",), prepare=prepare_awq),
        Method("awq-gemlite", ("awq", "gemlite"), load_awq_gemlite, cpu_ok=False,
               cuda_packages=("triton",), prepare=prepare_awq),
        Method("int8vw", ("bitsandbytes",), load_int8vw),
        Method("int8wo", ("torchao",), load_int8wo),
        Method("int4wo", ("torchao",), load_int4wo, cpu_ok=False, half="bf16"),
        Method("fp8wo", ("torchao",), load_fp8wo, cpu_ok=False, min_capability=FP8_CAPABILITY,
               half="bf16"),
        Method("fp8dq", ("torchao",), load_fp8dq, cpu_ok=False, min_capability=FP8_CAPABILITY,
               half="bf16"),
    )
}

_INSTALL_HINT = {"bitsandbytes": "quantbench[bnb]", "awq": "quantbench[awq]", "triton": "triton",
                 "torchao": "quantbench[torchao]", "gemlite": "quantbench[gemlite]"}


# What a package check imports beyond the package: for autoawq the layer quantbench builds models
# with, and not autoawq's package __init__ (its model families: seconds; ``compat.defer_package_init``).
_USED = {"awq": "awq.modules.linear.gemm"}


def _import_problem(package: str) -> str | None:
    try:
        if package == "awq":
            compat.defer_package_init()
        module = importlib.import_module(package)
        if package in _USED and hasattr(module, "__path__"):
            importlib.import_module(_USED[package])
    except Exception as exc:  # a broken install is as unusable as a missing one
        name = "autoawq" if package == "awq" else package
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, ModuleNotFoundError) and exc.name in (None, package):
            return f"{name} is not installed (pip install '{_INSTALL_HINT[package]}')"
        return f"{name} failed to import: {first}"
    if package == "torchao":
        return torchao_mismatch()
    if package == "awq":
        return awq_mismatch()
    return None


def torchao_mismatch() -> str | None:
    """torchao's own verdict on the installed torch: it skips its compiled kernels when the
    pair does not match (torchao 0.18 needs torch >= 2.11), which would leave it half working."""
    import torch
    import torchao

    reason = compat.torchao_skip_reason()
    if reason and "incompatible torch" in reason:
        return f"torchao {torchao.__version__} does not support torch {torch.__version__}: {reason}"
    return None


def awq_mismatch() -> str | None:
    """Why the installed autoawq is not one quantbench's AWQ path was checked with (its packing
    order and the search it mends are autoawq internals), or ``None``."""
    try:
        compat.check_autoawq()
    except compat.UnsupportedVersion as exc:
        return str(exc)
    return None


def gpu_capability() -> tuple[tuple[int, int], str]:
    """The current CUDA device's compute capability and name."""
    import torch

    return tuple(torch.cuda.get_device_capability()), torch.cuda.get_device_name()


def _capability_problem(name: str, method: Method, device: str) -> str | None:
    if method.min_capability is None:
        return None
    need = ".".join(map(str, method.min_capability))
    if device == "cpu":
        return f"{name} needs a CUDA GPU with compute capability {need} or newer (FP8)"
    capability, gpu = gpu_capability()
    if capability < method.min_capability:
        return (f"{name} needs FP8 support (compute capability {need} or newer); this {gpu} is "
                f"{'.'.join(map(str, capability))}")
    return None


def unavailable_reason(name: str, device: str) -> str | None:
    """Why ``name`` cannot run on ``device`` here, or ``None`` when it can."""
    method = METHODS[name]
    capability = _capability_problem(name, method, device)
    if capability:
        return capability
    if device == "cpu" and not method.cpu_ok:
        return f"{name} needs a CUDA GPU"
    packages = method.packages + (method.cuda_packages if device == "cuda" else ())
    for package in packages:
        problem = _import_problem(package)
        if problem:
            return f"{name}: {problem}"
    return None
