"""AWQ INT4 through autoawq: quantize once and cache, then load onto the device.

transformers 5 loads AWQ checkpoints only through gptqmodel, so quantbench uses autoawq's own
``WQLinear_GEMM`` layers (its Triton GEMM kernels on a GPU) and builds the model as autoawq's
``from_quantized`` does (``load_gemm``), without importing autoawq's model families, which cost
seconds of every session's start. On the CPU (where autoawq's loader insists on IPEX) the layer is
subclassed in ``quantbench.compat`` so that a CPU input takes autoawq's dequantise-then-matmul
fallback even when triton is installed (autoawq itself would pick Triton, which cannot run on a
CPU tensor).

Without a pre-quantized checkpoint, the full-precision model is quantized (group 128, zero
point, GEMM) on deterministic token-id calibration data and stored under a key made of the
source and every setting that changes the result, so a later session reuses it. A synthetic
source (random weights) skips the calibration search, which finds nothing there: its linears are
rounded to nearest into the same GEMM layout (``awq_rtn``), and every case's notes say so.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from quantbench.sources import cache
from quantbench.methods.base import LoadedModel, LoadError, LoadRequest
from quantbench.device_memory import free_device_memory
from quantbench.methods.awq_key import MARKER, awq_version, cache_key, calibration_for, quant_config
from quantbench.methods.awq_rtn import NOTE, rtn_checkpoint
from quantbench.sources import ModelSource
from quantbench.compat import awq_gemm_class, awq_quantizer


def calibration_ids(vocab_size: int, seed: int, shape: tuple[int, int]) -> list[list[int]]:
    """Deterministic calibration sequences of token ids (no dataset download, no zeros)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    high = min(vocab_size, 150_000)
    ids = torch.randint(100, high, shape, generator=gen)
    return ids.tolist()


def quantized_checkpoint(source: ModelSource, cache_dir: Path, device: str, seed: int) -> tuple[Path, bool]:
    """The cached AWQ checkpoint for ``source``, quantizing it first if needed.

    Returns the folder and whether it was reused. The folder is written under a temporary name
    and renamed into place, with a marker file last, so a crash never leaves a trusted half.
    """
    from transformers import AutoConfig

    name = Path(source.location).name.lower() if source.kind != "hub" else source.spec.split("/")[-1].lower()
    config = AutoConfig.from_pretrained(source.location)
    quant = quant_config(config)
    calib = calibration_for(device)
    target = cache_dir / "awq" / f"{name}-{cache_key(source, seed, awq_version(), quant, calib)}"
    if cache.check(target):  # DamagedCache: a truncated or rewritten file
        return target, True
    import torch
    from awq import AutoAWQForCausalLM

    vocab = config.vocab_size
    start = time.perf_counter()
    # float32 on a CPU (its float16 matmuls are slow); autoawq casts each linear to float16 before
    # packing it either way.
    awq_model = AutoAWQForCausalLM.from_pretrained(
        source.location, device_map="cpu" if device == "cpu" else "auto",
        torch_dtype=getattr(torch, calib.dtype),
    )
    with cache.building_dir(target) as out:
        awq_model.quantize(
            None,
            quant_config=dict(quant),
            calib_data=calibration_ids(vocab, seed, (calib.samples, calib.seq_len)),
            max_calib_samples=calib.samples,
            max_calib_seq_len=calib.seq_len,
            quantizer_cls=awq_quantizer(calib.clip_tokens),
        )
        awq_model.save_quantized(str(out))
        del awq_model
        free_device_memory()
        (out / MARKER).write_text(
            json.dumps({"source": source.spec, "seconds": round(time.perf_counter() - start, 1),
                        "quant": quant, "calibration": asdict(calib), "autoawq": awq_version()})
        )
    return target, False


def cached_checkpoint(req: LoadRequest) -> tuple[Path, bool]:
    """The source's cached AWQ checkpoint (built if needed) and whether it was reused: packed by
    round to nearest for synthetic weights (``awq_rtn``), calibrated for real ones."""
    if req.source.synthetic:
        return rtn_checkpoint(req.source, req.cache_dir, req.device, req.seed)
    return quantized_checkpoint(req.source, req.cache_dir, req.device, req.seed)


def load_gemm(folder: Path, device: str) -> Any:
    """Build the model with autoawq's GEMM layers (``compat.awq_gemm_class``) and load the
    checkpoint onto ``device``: what autoawq's ``from_quantized`` builds (``from_config`` with
    parameters on the meta device, each decoder linear a ``WQLinear_GEMM``, tied embeddings),
    without importing autoawq's model families (``compat.defer_package_init``)."""
    import torch
    from accelerate import init_empty_weights
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder)
    qcfg = getattr(config, "quantization_config", None) or {}
    if not isinstance(qcfg, dict):
        qcfg = qcfg.to_dict()
    if str(qcfg.get("version", "gemm")).lower() != "gemm" or qcfg.get("bits", qcfg.get("w_bit")) != 4:
        raise LoadError(f"AWQ checkpoint {folder} is not 4-bit GEMM; quantbench loads only that")
    group = qcfg.get("group_size", qcfg.get("q_group_size", 128))
    skip = qcfg.get("modules_to_not_convert") or []
    config.quantization_config = None
    with init_empty_weights():  # parameters on the meta device; buffers (rotary) computed
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float16)
    layer_class = awq_gemm_class(device)
    target = "cuda:0" if device == "cuda" else device
    for layer in model.model.layers:
        linears = [(n, m) for n, m in layer.named_modules() if isinstance(m, torch.nn.Linear)]
        for name, linear in linears:
            if any(s in name for s in skip):
                continue
            q = layer_class(4, group, linear.in_features, linear.out_features,
                            linear.bias is not None, target)
            parent, _, attr = name.rpartition(".")
            setattr(layer.get_submodule(parent), attr, q)
    state = {}
    for shard in sorted(folder.glob("*.safetensors")):
        state.update(load_file(shard, device=target))
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    allowed_missing = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing) - allowed_missing or unexpected:
        raise LoadError(f"AWQ checkpoint {folder} does not match its config "
                        f"({len(missing)} missing, {len(unexpected)} unexpected tensors)")
    model.tie_weights()
    model.to(target)
    if any(t.is_meta for t in [*model.parameters(), *model.buffers()]):
        raise LoadError(f"AWQ checkpoint {folder} left tensors without values after loading")
    return model.eval()


def prepare(req: LoadRequest) -> list[str]:
    """Quantize the source into the cache unless a checkpoint is given or already cached.

    Runs before the weights are measured, so quantization leftovers never count as weights."""
    if req.awq_source is not None:
        return [f"AWQ: pre-quantized checkpoint {req.awq_source.spec}"]
    folder, reused = cached_checkpoint(req)
    free_device_memory()
    if req.source.synthetic:
        how = "by round to nearest, no calibration search"
    else:
        how = calibration_for(req.device).describe()
    if reused:
        return [f"AWQ: reused the cached quantization ({how}) at {folder}"]
    return [f"AWQ: quantized {req.source.spec} ({how}) and cached it at {folder}"]


def load(req: LoadRequest) -> LoadedModel:
    """Load the AWQ method: the given AWQ checkpoint, or the cached quantization of the source."""
    notes: list[str] = []
    if req.awq_source is not None:
        folder = Path(req.awq_source.location)
        if req.awq_source.kind == "hub":
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(req.awq_source.spec))
    else:
        folder, _ = cached_checkpoint(req)
        if req.source.synthetic:
            notes.append(NOTE)
    model = load_gemm(folder, req.device)
    if req.device == "cpu":
        notes.append("AWQ on the CPU: autoawq WQLinear_GEMM, dequantise-then-matmul fallback")
    notes += filter(None, [enable_kv_cache(model)])
    return LoadedModel("awq", model, f"int4 weights (g{checkpoint_group(folder)}), float16 activations",
                       notes)


def checkpoint_group(folder: Path) -> str:
    """The group size an AWQ checkpoint was quantized with, from its config.json ("?" if unsaid)."""
    try:
        qcfg = json.loads((folder / "config.json").read_text()).get("quantization_config") or {}
    except (OSError, ValueError):
        return "?"
    return str(qcfg.get("group_size", qcfg.get("q_group_size", "?")))


def enable_kv_cache(model: Any) -> str | None:
    """Turn the KV cache back on when an AWQ checkpoint was saved with ``use_cache: false``.

    autoawq switches the cache off while it calibrates and saves its quantized config that way,
    and a model built from that config makes ``generate`` recompute the whole sequence at every
    step (and refuse a static cache, so nothing compiles). Every other method decodes with a
    cache, so AWQ must too for the comparison to mean anything. Returns the report's note."""
    if getattr(model.config, "use_cache", True) is not False:
        return None
    model.config.use_cache = True
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.use_cache = True
    return ("AWQ: the checkpoint's config.json says use_cache=false (autoawq's calibration "
            "setting); quantbench turned the KV cache back on")
