"""What identifies a cached AWQ checkpoint: its quantization config, calibration and cache key.

Shared by the calibrated path (``awq``) and the round-to-nearest one (``awq_rtn``), so neither
imports the other for it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from quantbench.methods.base import LoadError
from quantbench.sources import ModelSource

QUANT_CONFIG = {"zero_point": True, "q_group_size": 128, "w_bit": 4, "version": "GEMM"}
# Group sizes tried in order: the largest that divides every linear layer's input width. 128 is
# AWQ's usual; SmolLM2-135M's hidden size 576 needs 64 (autoawq refuses a group that does not
# divide the width: "org_w_shape (576) must be a multiple of group_size (128)").
GROUP_SIZES = (128, 64, 32)

@dataclass(frozen=True)
class Calibration:
    """How AWQ's search is calibrated: token-id sequences, the clipping search's token sample
    (None: autoawq's 512) and the dtype the full-precision model is searched in."""

    samples: int
    seq_len: int
    clip_tokens: int | None
    dtype: str

    def describe(self) -> str:
        clip = f", clipping searched on {self.clip_tokens} tokens" if self.clip_tokens else ""
        return f"calibrated on {self.samples} x {self.seq_len} token-id sequences{clip} ({self.dtype})"


GPU_CALIB = Calibration(32, 512, None, "float16")
# On 2 CPU cores autoawq's search for SmolLM2-135M took 784 s at 8 x 256 tokens, most of it the
# clipping search over 512 sampled tokens; with 64 it took 137 s and scored perplexity 46.5
# against 47.9. The result is cached either way.
CPU_CALIB = Calibration(8, 256, 64, "float32")
# What runs the search, in the cache key: checkpoints searched before quantbench mended autoawq's
# CPU search (compat.awq_quantizer) are broken and must not be reused.
SEARCH = "compat.awq_quantizer/1"


def calibration_for(device: str) -> Calibration:
    """AWQ's calibration on ``device``: the usual one on a GPU, a cheaper one on a CPU."""
    return CPU_CALIB if device == "cpu" else GPU_CALIB


MARKER = "quantbench-awq.json"


def group_size(hidden_size: int, intermediate_size: int) -> int:
    """The largest of ``GROUP_SIZES`` that divides both widths the linear layers read."""
    for group in GROUP_SIZES:
        if hidden_size % group == 0 and intermediate_size % group == 0:
            return group
    raise LoadError(f"AWQ needs widths divisible by {GROUP_SIZES[-1]}; this model has hidden "
                    f"size {hidden_size} and intermediate size {intermediate_size}")


def quant_config(config: Any) -> dict[str, Any]:
    """autoawq's quantization config for a model config: GEMM, 4 bits, zero point, its group."""
    return {**QUANT_CONFIG, "q_group_size": group_size(config.hidden_size, config.intermediate_size)}


def cache_key(source: ModelSource, seed: int, awq_version: str,
              quant: dict[str, Any] | None = None,
              calibration: str | Calibration = GPU_CALIB) -> str:
    """A short hash of everything that decides the quantized weights; ``calibration`` is autoawq's
    calibration search, or "rtn" (round to nearest, ``awq_rtn``)."""
    calib = ({"kind": calibration} if isinstance(calibration, str) else
             {**asdict(calibration), "kind": "token-ids", "search": SEARCH})
    identity = {
        "source": source.spec,
        "location": source.location if source.kind != "hub" else source.spec,
        "seed": seed,
        "quant": quant or QUANT_CONFIG,
        "calib": calib,
        "autoawq": awq_version,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def awq_version() -> str:
    """The installed autoawq's version, part of a checkpoint's identity ("unknown" if absent)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("autoawq")
    except PackageNotFoundError:
        return "unknown"
