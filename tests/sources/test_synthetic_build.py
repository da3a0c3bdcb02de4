"""Building a synthetic checkpoint at 7B/14B scale: one bfloat16 copy drawn on the init device,
sharded output, deterministic per (name, seed, device). Checked on the CPU with qwen2-tiny."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantbench.sources import resolve as sources
from quantbench.sources import materialize_synthetic, synthetic_folder

torch = pytest.importorskip("torch")


def _tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    out: dict = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(f))
    return out


def test_folder_names_the_generator_device(tmp_path: Path) -> None:
    assert synthetic_folder(tmp_path, "m", 3, "cpu") == tmp_path / "synthetic" / "m-seed3"
    assert synthetic_folder(tmp_path, "m", 3, "cuda") == tmp_path / "synthetic" / "m-seed3-cuda"


def test_init_device_is_cuda_when_a_gpu_is_present(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert sources.init_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert sources.init_device() == "cpu"


def test_weights_are_drawn_once_in_bfloat16_on_the_init_device(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every parameter is created in bfloat16 on the device asked for: no float32 model first,
    no second copy. (A device of "cpu" here stands for "cuda" on a GPU host: the same
    ``torch.device`` context places the parameters.)"""
    created: list[tuple[torch.dtype, str]] = []
    original = torch.nn.Parameter.__new__

    def spy(cls: type, data: torch.Tensor | None = None, requires_grad: bool = True) -> object:
        created.append((data.dtype, data.device.type))
        return original(cls, data, requires_grad)

    monkeypatch.setattr(torch.nn.Parameter, "__new__", spy)
    folder = materialize_synthetic("qwen2-tiny", tmp_path, 0, device="cpu")
    monkeypatch.undo()
    assert created and set(created) == {(torch.bfloat16, "cpu")}
    marker = json.loads((folder / "quantbench-synthetic.json").read_text())
    assert marker["device"] == "cpu"


def test_sharded_output_has_the_same_tensors(tmp_path: Path) -> None:
    """A small shard limit splits the checkpoint (with an index, as transformers writes it) and
    the tensors are those of the one-file checkpoint of the same seed."""
    whole = materialize_synthetic("qwen2-tiny", tmp_path / "a", 0, device="cpu")
    sharded = materialize_synthetic("qwen2-tiny", tmp_path / "b", 0, device="cpu",
                                    max_shard_size="200KB")
    assert [p.name for p in whole.glob("*.safetensors")] == ["model.safetensors"]
    shards = sorted(p.name for p in sharded.glob("*.safetensors"))
    assert len(shards) > 1
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    assert sorted(set(index["weight_map"].values())) == shards
    a, b = _tensors(whole), _tensors(sharded)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_sharded_checkpoint_loads_with_from_pretrained(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    folder = materialize_synthetic("qwen2-tiny", tmp_path, 1, device="cpu", max_shard_size="200KB")
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
    saved = _tensors(folder)
    assert torch.equal(model.model.layers[1].mlp.down_proj.weight,
                       saved["model.layers.1.mlp.down_proj.weight"])
