"""AWQ's INT4 GEMM checkpoint by round-to-nearest, for synthetic (random) weights.

AWQ's calibration search scales salient input channels before it rounds; on seeded random
weights there are none to find, so the search buys nothing and costs minutes (SmolLM2-135M took
over 16 minutes on a CPU; a 7B model would not fit a 10-minute GPU call). Here every decoder
linear layer is rounded to nearest exactly as autoawq 0.2.9 rounds it after the search
(``AwqQuantizer.pseudo_quantize_tensor``: 4 bits, zero point, the group from ``group_size``, in
float16) and packed exactly as ``WQLinear_GEMM.from_linear`` packs it (vectorised, bit for bit),
then saved as autoawq's ``save_quantized`` saves it. The loaders (``awq.load_gemm``,
autoawq's ``from_quantized``) read it unchanged and run the same kernels on the same bytes as
on a calibrated checkpoint; it is cached under a key that says "rtn".
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from quantbench import compat
from quantbench.sources import cache
from quantbench.methods.awq_key import MARKER, awq_version, cache_key, quant_config
from quantbench.device_memory import free_device_memory
from quantbench.sources import ModelSource, meta_model

W_BIT = 4
MAX_INT = 2**W_BIT - 1
SHARD_SIZE = "2GB"
NOTE = ("AWQ on synthetic weights: round-to-nearest packing (no calibration search); same "
        "kernels and bytes as a calibrated AWQ checkpoint")


def rtn_quantize(weight: Any, group: int) -> tuple[Any, Any, Any]:
    """autoawq's zero-point round-to-nearest of a float16 ``(out, in)`` weight: the rounded
    weight (float16, as autoawq writes it back into the layer), scales and zeros ``(out, groups)``."""
    import torch

    w = weight.reshape(-1, group)
    max_val = w.amax(dim=1, keepdim=True)
    min_val = w.amin(dim=1, keepdim=True)
    scales = (max_val - min_val).clamp(min=1e-5) / MAX_INT
    zeros = (-torch.round(min_val / scales)).clamp_(0, MAX_INT)
    rounded = (torch.clamp(torch.round(w / scales) + zeros, 0, MAX_INT) - zeros) * scales
    rows = weight.shape[0]
    return rounded.reshape(weight.shape), scales.view(rows, -1), zeros.view(rows, -1)


def _pack_columns(values: Any) -> Any:
    """Eight 4-bit columns into one int32 column, in autoawq's order (``compat.awq_pack_order``)."""
    import torch

    packed = torch.zeros((values.shape[0], values.shape[1] // 8), dtype=torch.int32,
                         device=values.device)
    for i, column in enumerate(compat.awq_pack_order()):
        packed |= values[:, column::8] << (i * W_BIT)
    return packed


def pack_gemm(rounded: Any, scales: Any, zeros: Any, group: int) -> dict[str, Any]:
    """``WQLinear_GEMM.from_linear``'s buffers from ``rtn_quantize``'s output, vectorised:
    ``qweight`` (in, out/8), ``qzeros`` (groups, out/8), ``scales`` (groups, out) float16."""
    import torch

    scales_t = scales.t().contiguous().half()
    zeros_t = zeros.t().contiguous()
    scale_zeros = (zeros_t * scales_t).repeat_interleave(group, dim=0).t()
    per_column = scales_t.repeat_interleave(group, dim=0).t()
    intweight = torch.round((rounded + scale_zeros) / per_column).to(torch.int32)
    return {"qweight": _pack_columns(intweight.t().contiguous()),
            "qzeros": _pack_columns(zeros_t.to(torch.int32)), "scales": scales_t}


def decoder_linears(config: Any) -> set[str]:
    """Names of the decoder layers' linear modules (``model.layers.N.<name>``), as autoawq
    quantizes them: every ``nn.Linear`` in every decoder layer, found on the meta device."""
    import torch

    model = meta_model(config)
    return {f"model.layers.{i}.{name}" for i, layer in enumerate(model.model.layers)
            for name, module in layer.named_modules() if isinstance(module, torch.nn.Linear)}


def quantize_state(folder: Path, linears: set[str], group: int, device: str) -> dict[str, Any]:
    """The checkpoint's tensors in AWQ GEMM form: linears packed, everything else float16.
    Reads one tensor at a time; each linear is rounded on ``device`` and kept on the CPU."""
    import torch
    from safetensors import safe_open

    state: dict[str, Any] = {}
    for shard in sorted(folder.glob("*.safetensors")):
        with safe_open(str(shard), framework="pt", device="cpu") as fh:
            for key in fh.keys():
                tensor = fh.get_tensor(key)
                prefix = key.removesuffix(".weight")
                if key.endswith(".weight") and prefix in linears:
                    weight = tensor.to(device=device, dtype=torch.float16)
                    packed = pack_gemm(*rtn_quantize(weight, group), group)
                    state.update({f"{prefix}.{k}": v.cpu() for k, v in packed.items()})
                else:
                    state[key] = tensor.to(torch.float16)
    return state


def write_checkpoint(source: ModelSource, out: Path, quant: dict[str, Any], device: str) -> None:
    """Write ``source``'s RTN AWQ checkpoint into ``out`` the way autoawq's save_quantized does:
    config.json with the transformers-style quantization_config, sharded safetensors."""
    import shutil

    import torch
    from huggingface_hub import save_torch_state_dict
    from transformers import AutoConfig

    folder = Path(source.location)
    config = AutoConfig.from_pretrained(folder)
    state = quantize_state(folder, decoder_linears(config), quant["q_group_size"], device)
    out.mkdir(parents=True)
    save_torch_state_dict(state, str(out), max_shard_size=SHARD_SIZE, force_contiguous=True)
    del state
    config.quantization_config = {
        "quant_method": "awq", "zero_point": quant["zero_point"], "group_size": quant["q_group_size"],
        "bits": quant["w_bit"], "version": quant["version"].lower(), "modules_to_not_convert": None}
    config.dtype = torch.float16
    config.save_pretrained(out)
    if (folder / "generation_config.json").is_file():
        shutil.copy(folder / "generation_config.json", out / "generation_config.json")


def rtn_checkpoint(source: ModelSource, cache_dir: Path, device: str, seed: int) -> tuple[Path, bool]:
    """The cached RTN AWQ checkpoint of a synthetic source, built first if needed; returns the
    folder and whether it was reused. Built beside and renamed into place, marker file last."""
    from transformers import AutoConfig

    quant = quant_config(AutoConfig.from_pretrained(source.location))
    key = cache_key(source, seed, awq_version(), quant, calibration="rtn")
    target = cache_dir / "awq" / f"{Path(source.location).name.lower()}-rtn-{key}"
    if cache.check(target):  # DamagedCache: a truncated or rewritten file
        return target, True
    start = time.perf_counter()
    with cache.building_dir(target) as out:
        write_checkpoint(source, out, quant, device)
        free_device_memory()
        (out / MARKER).write_text(json.dumps(
            {"source": source.spec, "seconds": round(time.perf_counter() - start, 1),
             "quant": quant, "autoawq": awq_version(), "calibration": "rtn", "note": NOTE}))
    return target, False
