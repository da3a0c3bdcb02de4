"""``gguf:<file>``: a model in one GGUF file, turned once into an ordinary checkpoint folder.

transformers reads GGUF files itself (``from_pretrained(folder, gguf_file=...)``, with the
``gguf`` package), tokenizer and chat template included. Every method must load the same weights,
and the quantizing ones (bitsandbytes, autoawq, torchao) expect a normal Hugging Face folder, so the
file is dequantized once into ``<cache>/gguf/dense/<name>-<key>/``: config, tokenizer and float32
safetensors written by ``save_pretrained``. float32 holds a dequantized GGUF block exactly (a
half-precision scale times a 4-bit integer plus an offset needs more than float16's 11 bits); each
method then casts to its own dtype on load, FP16 included. The key is the file's path, size and
modification time, so an edited or replaced file is converted again.

A file the parsers cannot read (a text file renamed ``.gguf``, a crafted header) is a
``SourceError``, one line naming it: the session stops with exit 4 before anything is measured.

The reference is therefore not a full-precision model: it is the GGUF's quantized weights
(SmolLM2's file is Q4_1) dequantized, and every case's notes say so.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from quantbench.exits import one_line
from quantbench.sources import cache
from quantbench.sources.fetch import KNOWN, cached_file, fetch_command
from quantbench.sources.model import SourceError


MARKER = "quantbench-gguf.json"


def gguf_file(name: str, cache_dir: Path) -> Path:
    """The file a ``gguf:`` spec names: a known shorthand (``smollm2``) in the cache, or a path."""
    if name in KNOWN:
        path = cached_file(name, cache_dir)
        if not path.is_file():
            raise SourceError(f"gguf:{name} is not in the cache ({path}); fetch it with: "
                            f"{fetch_command(name, cache_dir)}")
        return path
    path = Path(name).expanduser()
    if not path.is_file():
        known = ", ".join(sorted(KNOWN))
        raise SourceError(f"GGUF file {name!r} not found (a path to a .gguf file, or one of: {known})")
    return path.resolve()


def dense_key(path: Path) -> str:
    """A short hash of the file's identity: its path, size and modification time."""
    st = path.stat()
    identity = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def tensor_types(path: Path) -> dict[str, int]:
    """How many of the file's tensors each GGUF type holds (``{"Q4_1": 210, "F32": 61}``)."""
    from gguf import GGUFReader

    counts = Counter(t.tensor_type.name for t in GGUFReader(str(path)).tensors)
    return dict(counts.most_common())


def _dequantized(path: Path):
    """The file's model and tokenizer, every weight dequantized to float32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {}
    try:  # transformers >= 5.x can keep GGUF blocks packed; ask for a plain dense model
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:  # older transformers always dequantize
        pass
    folder, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 **kwargs)
    return model, tokenizer


def materialize_gguf(path: Path, cache_dir: Path) -> Path:
    """Write the dequantized checkpoint folder once and return it.

    Built under a temporary name and renamed into place, so an interrupted conversion never
    leaves a half-written folder that a later session would trust.
    """
    target = cache_dir / "gguf" / "dense" / f"{path.stem.lower()}-{dense_key(path)}"
    if cache.check(target) and (target / MARKER).is_file():  # DamagedCache: a rewritten file
        return target
    try:
        types = tensor_types(path)
        model, tokenizer = _dequantized(path)
    except ImportError as exc:
        raise SourceError(f"gguf:{path} needs the gguf package (pip install 'quantbench[gguf]'): "
                        f"{exc}") from exc
    except MemoryError:
        raise SourceError(f"gguf:{path} is not a usable GGUF file: its header asks for more "
                          "memory than this machine has") from None
    except Exception as exc:  # the parsers raise what they meet (ValueError, KeyError, struct.error, ...)
        raise SourceError(f"gguf:{path} is not a usable GGUF file: {one_line(exc, 200)}") from None
    with cache.building_dir(target) as out:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        marker = {"file": str(path), "size": path.stat().st_size, "tensor_types": types,
                  "dequantized_to": "float32"}
        (out / MARKER).write_text(json.dumps(marker, indent=1))
    return target


def origin_note(folder: Path) -> str:
    """The case note saying the reference itself came from a quantized file."""
    marker = json.loads((folder / MARKER).read_text())
    types = ", ".join(f"{t} x{n}" for t, n in marker["tensor_types"].items())
    return (f"weights from GGUF file {Path(marker['file']).name} (tensors: {types}), dequantized "
            f"to {marker['dequantized_to']}: the FP16 reference is itself a quantized model")
