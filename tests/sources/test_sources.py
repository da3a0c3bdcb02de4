"""Model sources: seeded synthetic checkpoints, the shipped architectures, local folders, hub ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantbench.sources import (
    ModelSource,
    SourceError,
    load_tokenizer,
    materialize_synthetic,
    resolve_source,
    synthetic_config_dict,
    synthetic_names,
)


def _tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    out: dict = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(f))
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """qwen2-tiny materialised three times: seed 0 in two caches, seed 1 in the first."""
    a = tmp_path_factory.mktemp("cache-a")
    b = tmp_path_factory.mktemp("cache-b")
    return {
        "cache_a": a,
        "a0": materialize_synthetic("qwen2-tiny", a, 0),
        "b0": materialize_synthetic("qwen2-tiny", b, 0),
        "a1": materialize_synthetic("qwen2-tiny", a, 1),
    }


def test_shipped_names() -> None:
    assert synthetic_names() == ["qwen2-tiny", "qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct",
                                 "qwen2.5-14b-instruct", "qwen2.5-3b-instruct",
                                 "qwen2.5-7b-instruct"]


def test_qwen25_05b_config_is_the_real_architecture() -> None:
    c = synthetic_config_dict("qwen2.5-0.5b-instruct")
    assert c["architectures"] == ["Qwen2ForCausalLM"]
    assert c["model_type"] == "qwen2"
    assert c["num_hidden_layers"] == 24
    assert c["hidden_size"] == 896
    assert c["intermediate_size"] == 4864
    assert c["num_attention_heads"] == 14
    assert c["num_key_value_heads"] == 2
    assert c["vocab_size"] == 151936
    assert c["tie_word_embeddings"] is True
    assert c["rope_theta"] == 1_000_000.0
    assert c["max_position_embeddings"] == 32768
    assert c["hidden_act"] == "silu"
    assert c["rms_norm_eps"] == 1e-6
    assert (c["bos_token_id"], c["eos_token_id"]) == (151643, 151645)
    assert c["hidden_size"] // c["num_attention_heads"] == 64  # head dim


def test_tiny_config_is_a_small_qwen2() -> None:
    c = synthetic_config_dict("qwen2-tiny")
    assert c["model_type"] == "qwen2"
    assert (c["num_hidden_layers"], c["hidden_size"], c["intermediate_size"]) == (2, 128, 384)
    assert (c["num_attention_heads"], c["num_key_value_heads"], c["vocab_size"]) == (4, 2, 2048)
    assert c["tie_word_embeddings"] is True


def test_materialised_into_the_cache_folder(tiny: dict[str, Path]) -> None:
    a = tiny["cache_a"]
    assert tiny["a0"] == a / "synthetic" / "qwen2-tiny-seed0"
    assert tiny["a1"] == a / "synthetic" / "qwen2-tiny-seed1"
    assert sorted(p.name for p in (a / "synthetic").iterdir()) == ["qwen2-tiny-seed0", "qwen2-tiny-seed1"]
    folder = tiny["a0"]
    assert (folder / "config.json").is_file()
    assert any(folder.glob("*.safetensors"))
    marker = json.loads((folder / "quantbench-synthetic.json").read_text())
    assert marker == {"architecture": "qwen2-tiny", "seed": 0, "weights": "random, seeded",
                      "device": "cpu"}
    config = json.loads((folder / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (2, 128, 2048)


def test_checkpoint_holds_the_architectures_tensors(tiny: dict[str, Path]) -> None:
    import torch

    t = _tensors(tiny["a0"])
    assert t["model.embed_tokens.weight"].shape == (2048, 128)
    assert t["model.layers.0.mlp.gate_proj.weight"].shape == (384, 128)
    assert t["model.layers.1.self_attn.k_proj.weight"].shape == (2 * 32, 128)  # 2 KV heads x head dim 32
    assert not any(k.startswith("model.layers.2.") for k in t)
    assert {v.dtype for v in t.values()} == {torch.bfloat16}
    assert t["model.embed_tokens.weight"].float().abs().sum() > 0  # random, not zeros


def test_same_seed_gives_identical_tensors(tiny: dict[str, Path]) -> None:
    import torch

    a, b = _tensors(tiny["a0"]), _tensors(tiny["b0"])
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_different_seed_gives_different_tensors(tiny: dict[str, Path]) -> None:
    import torch

    a, c = _tensors(tiny["a0"]), _tensors(tiny["a1"])
    assert a.keys() == c.keys()
    random_weights = [k for k in a if k.endswith("proj.weight") or k == "model.embed_tokens.weight"]
    assert random_weights
    assert not any(torch.equal(a[k], c[k]) for k in random_weights)


def test_existing_checkpoint_is_reused(tiny: dict[str, Path]) -> None:
    folder = tiny["a0"]
    files = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert materialize_synthetic("qwen2-tiny", tiny["cache_a"], 0) == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == files


def test_half_written_checkpoint_is_rebuilt(tmp_path: Path, tiny: dict[str, Path]) -> None:
    import torch

    target = tmp_path / "synthetic" / "qwen2-tiny-seed0"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # a config but no weights: not trusted
    assert materialize_synthetic("qwen2-tiny", tmp_path, 0) == target
    rebuilt, reference = _tensors(target), _tensors(tiny["a0"])
    assert rebuilt.keys() == reference.keys()
    assert all(torch.equal(rebuilt[k], reference[k]) for k in reference)
    assert sorted(p.name for p in (tmp_path / "synthetic").iterdir()) == ["qwen2-tiny-seed0"]


def test_resolve_synthetic(tiny: dict[str, Path]) -> None:
    src = resolve_source("synthetic:qwen2-tiny", tiny["cache_a"], seed=1)
    assert src == ModelSource("synthetic:qwen2-tiny", "synthetic", str(tiny["a1"]))
    assert src.synthetic
    assert load_tokenizer(src) is None


def test_unknown_synthetic_name(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as exc:
        resolve_source("synthetic:llama-9000", tmp_path)
    assert str(exc.value) == ("unknown synthetic model 'llama-9000'; shipped: qwen2-tiny, "
                              "qwen2.5-0.5b-instruct, qwen2.5-1.5b-instruct, qwen2.5-14b-instruct, "
                              "qwen2.5-3b-instruct, qwen2.5-7b-instruct")
    assert list(tmp_path.iterdir()) == []  # nothing was written
    with pytest.raises(SourceError, match="unknown synthetic model"):
        synthetic_config_dict("qwen2.5-0.5b")


def test_local_folder_resolves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "models" / "My-Model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    src = resolve_source(str(folder), tmp_path / "cache")
    assert src == ModelSource(str(folder), "local", str(folder.resolve()))
    assert not src.synthetic
    monkeypatch.chdir(tmp_path)
    rel = resolve_source("models/My-Model", tmp_path / "cache")  # owner/name shape, but a folder here
    assert (rel.kind, rel.location) == ("local", str(folder.resolve()))
    assert not (tmp_path / "cache").exists()


def test_local_folder_without_config(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"has no config\.json$"):
        resolve_source(str(tmp_path), tmp_path)


def test_hub_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_source("Qwen/Qwen2.5-0.5B-Instruct", tmp_path) == ModelSource(
        "Qwen/Qwen2.5-0.5B-Instruct", "hub", "Qwen/Qwen2.5-0.5B-Instruct")


@pytest.mark.parametrize("spec", ["./missing", "/no/such/folder", "~/no-such-qb-model", "a/b/c", "just-a-name"])
def test_neither_folder_nor_hub_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceError) as exc:
        resolve_source(spec, tmp_path)
    assert str(exc.value) == f"model {spec!r} is neither a local folder nor a hub id (owner/name)"


def test_local_checkpoint_without_tokenizer_has_no_tokenizer(tiny: dict[str, Path]) -> None:
    folder = tiny["a0"]  # config and weights only, as written by materialize_synthetic
    assert not any(folder.glob("tokenizer*"))
    assert load_tokenizer(ModelSource(str(folder), "local", str(folder))) is None
