"""Where a model comes from: a hub id, a local folder, ``synthetic:<name>`` or ``gguf:<file>``.

A synthetic model is the real architecture (a ``config.json`` shipped in this package) with
seeded random weights, written once to a cache folder as an ordinary checkpoint. Every method
then loads it through the same ``from_pretrained`` path a real checkpoint takes, so the
synthetic default exercises exactly the code a real model does. Random weights cost the same
bytes and FLOPs as trained ones, so speed and memory figures carry over; outputs do not.
A GGUF file is dequantized once into a cached folder the same way (``sources.gguf``).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from quantbench.sources import cache
from quantbench.device_memory import free_device_memory
from quantbench.sources.gguf import gguf_file, materialize_gguf, origin_note
from quantbench.sources.model import GGUF_PREFIX, SYNTHETIC_PREFIX, ModelSource, SourceError

def synthetic_names() -> list[str]:
    """The architectures shipped as ``config.json`` files in ``quantbench/configs``."""
    folder = resources.files("quantbench") / "configs"
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


def synthetic_config_dict(name: str) -> dict:
    """The shipped config of a synthetic architecture."""
    if name not in synthetic_names():
        raise SourceError(
            f"unknown synthetic model {name!r}; shipped: {', '.join(synthetic_names())}"
        )
    text = (resources.files("quantbench") / "configs" / f"{name}.json").read_text()
    return json.loads(text)


# Shards small enough that writing one (it passes through host memory) stays far below the host's
# RAM even at 14B (29.5 GB in bfloat16), and a loader streams them one at a time.
SHARD_SIZE = "2GB"


def init_device() -> str:
    """Where seeded random weights are drawn: on the GPU when there is one (a 14B model takes
    seconds there and minutes on a CPU), else on the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def synthetic_folder(cache_dir: Path, name: str, seed: int, device: str) -> Path:
    """The cache folder of a synthetic checkpoint. The generator's device is part of the name
    (CPU and CUDA generators draw different numbers from one seed); the CPU keeps the name it
    always had, so existing caches stay valid."""
    suffix = "" if device == "cpu" else f"-{device}"
    return cache_dir / "synthetic" / f"{name}-seed{seed}{suffix}"


def materialize_synthetic(name: str, cache_dir: Path, seed: int, device: str | None = None,
                          max_shard_size: str = SHARD_SIZE) -> Path:
    """Write the seeded random checkpoint once and return its folder.

    The weights are drawn directly in bfloat16 on ``device`` (default ``init_device()``), one
    copy only, and saved in shards of at most ``max_shard_size``; the same (name, seed, device)
    always gives the same tensors. The folder is built under a temporary name and renamed into
    place, so an interrupted build never leaves a half-written checkpoint a later session trusts.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    device = device or init_device()
    target = synthetic_folder(cache_dir, name, seed, device)
    if cache.check(target):  # DamagedCache: a truncated or rewritten file
        return target
    config_dict = synthetic_config_dict(name)
    with cache.building_dir(target) as out:
        cfg_path = out.parent / "src-config.json"
        cfg_path.write_text(json.dumps(config_dict))
        config = AutoConfig.from_pretrained(cfg_path)
        torch.manual_seed(seed)
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        model.save_pretrained(out, max_shard_size=max_shard_size)
        del model
        free_device_memory()
        (out / "quantbench-synthetic.json").write_text(json.dumps(
            {"architecture": name, "seed": seed, "weights": "random, seeded", "device": device}))
    return target


def source_kind(spec: str) -> str:
    """What kind of source ``spec`` names (synthetic, gguf, local, hub), checked without building
    or downloading anything: ``SourceError`` for an unknown synthetic architecture, a folder
    without ``config.json`` or a name that is neither a folder nor a hub id."""
    if spec.startswith(SYNTHETIC_PREFIX):
        synthetic_config_dict(spec[len(SYNTHETIC_PREFIX):])
        return "synthetic"
    if spec.startswith(GGUF_PREFIX):
        return "gguf"  # resolved (and maybe downloaded) by sources.gguf
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise SourceError(f"model folder {path} has no config.json")
        return "local"
    if spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        raise SourceError(f"model {spec!r} is neither a local folder nor a hub id (owner/name)")
    return "hub"


def _path_parts(spec: str) -> list[str] | None:
    """A local folder's path parts as written (``None`` for a synthetic, GGUF or hub source)."""
    if spec.startswith((SYNTHETIC_PREFIX, GGUF_PREFIX)):
        return None
    if not spec.startswith((".", "/", "~")) and spec.count("/") == 1:
        return None  # owner/name: a hub id
    import os

    return [p for p in os.path.normpath(os.path.expanduser(spec)).split(os.sep) if p]


def same_model(a: str, b: str) -> bool:
    """Whether two model sources with one baseline file name (``model_slug``) are one model. Two
    local folders are one only when one path ends with the other (``hf`` and ``/ckpt/x/hf``):
    ``/ckpt/llama/hf`` and ``/ckpt/qwen/hf`` share the file name ``hf.json`` but not a model.
    A hub id and its local download stay one model, as ``model_slug`` intends."""
    pa, pb = _path_parts(a), _path_parts(b)
    if pa is None or pb is None or a == b:
        return True
    pa = [p for p in pa if p != ".."]
    pb = [p for p in pb if p != ".."]
    n = min(len(pa), len(pb))
    return pa[len(pa) - n:] == pb[len(pb) - n:]


def resolve_source(spec: str, cache_dir: Path, seed: int = 0) -> ModelSource:
    """Turn what the user wrote into something ``from_pretrained`` can load."""
    kind = source_kind(spec)
    if kind == "synthetic":
        name = spec[len(SYNTHETIC_PREFIX):]
        return ModelSource(spec, kind, str(materialize_synthetic(name, cache_dir, seed)))
    if kind == "gguf":
        folder = materialize_gguf(gguf_file(spec[len(GGUF_PREFIX):], cache_dir), cache_dir)
        return ModelSource(spec, kind, str(folder), (origin_note(folder),))
    if kind == "local":
        return ModelSource(spec, kind, str(Path(spec).expanduser().resolve()))
    return ModelSource(spec, kind, spec)


def meta_model(config: Any) -> Any:
    """``config``'s causal LM built on the meta device: its modules and shapes, no weights."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def load_tokenizer(source: ModelSource) -> Any:
    """The source's tokenizer, or ``None`` for synthetic models and checkpoints without one."""
    if source.synthetic:
        return None
    from transformers import AutoTokenizer

    if source.kind == "local" and not any(
        (Path(source.location) / name).is_file()
        for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
    ):
        return None  # transformers would build an empty tokenizer from the config alone
    try:
        return AutoTokenizer.from_pretrained(source.location)
    except (OSError, ValueError):
        return None


def model_parameters(spec: str) -> int | None:
    """The parameter count of a synthetic or local model (built on the meta device, no weights
    allocated; tied weights once), or ``None`` for one whose config is not at hand."""
    from transformers import AutoConfig

    if spec.startswith(SYNTHETIC_PREFIX):
        cfg = dict(synthetic_config_dict(spec[len(SYNTHETIC_PREFIX):]))
        config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    elif (Path(spec).expanduser() / "config.json").is_file():
        config = AutoConfig.from_pretrained(Path(spec).expanduser())
    else:
        return None
    return sum(p.numel() for p in meta_model(config).parameters())
