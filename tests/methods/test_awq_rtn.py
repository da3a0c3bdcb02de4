"""AWQ by round to nearest for synthetic weights (``methods.awq_rtn``), on the CPU with qwen2-tiny.

The rounding is checked against autoawq 0.2.9's own ``pseudo_quantize_tensor``, the packing
against its ``WQLinear_GEMM.from_linear`` and the unpacking against its ``dequantize_gemm``,
all bit for bit (float16 operations in the same order give the same bits)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("awq")
torch = pytest.importorskip("torch")

from quantbench.methods import awq, awq_key, awq_rtn  # noqa: E402
from quantbench.methods.base import LoadRequest  # noqa: E402
from quantbench.sources import ModelSource, materialize_synthetic  # noqa: E402

GROUP = 128


def _weight(out_f: int, in_f: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(out_f, in_f, generator=gen) * 0.02).to(torch.float16)


def test_rounding_is_autoawqs() -> None:
    from awq.quantize.quantizer import AwqQuantizer

    w = _weight(64, 2 * GROUP, 0)
    fake_self = SimpleNamespace(group_size=GROUP, zero_point=True, w_bit=4)
    want = AwqQuantizer.pseudo_quantize_tensor(fake_self, w.clone())
    got = awq_rtn.rtn_quantize(w, GROUP)
    assert all(torch.equal(g, x) for g, x in zip(got, want))
    assert got[1].shape == (64, 2) and got[2].dtype == torch.float16


def test_packing_is_from_linears_bit_for_bit() -> None:
    from awq.modules.linear.gemm import WQLinear_GEMM

    w = _weight(96, 3 * GROUP, 1)
    rounded, scales, zeros = awq_rtn.rtn_quantize(w, GROUP)
    linear = torch.nn.Linear(3 * GROUP, 96, bias=False, dtype=torch.float16)
    linear.weight.data = rounded
    ref = WQLinear_GEMM.from_linear(linear, 4, GROUP, init_only=False,
                                    scales=scales.t().contiguous(), zeros=zeros.t().contiguous())
    got = awq_rtn.pack_gemm(rounded, scales, zeros, GROUP)
    for name in ("qweight", "qzeros", "scales"):
        assert got[name].dtype == getattr(ref, name).dtype
        assert torch.equal(got[name], getattr(ref, name)), name


def test_dequantized_weight_is_the_rtn_reference_exactly() -> None:
    from awq.utils.packing_utils import dequantize_gemm

    w = _weight(32, 2 * GROUP, 2)
    rounded, scales, zeros = awq_rtn.rtn_quantize(w, GROUP)
    packed = awq_rtn.pack_gemm(rounded, scales, zeros, GROUP)
    back = dequantize_gemm(packed["qweight"], packed["qzeros"], packed["scales"], 4, GROUP)
    assert torch.equal(back.t(), rounded)  # (in, out) -> (out, in); exact, not within rounding
    assert not torch.equal(rounded, w)  # the rounding did something


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    cache = tmp_path_factory.mktemp("cache")
    folder = materialize_synthetic("qwen2-tiny", cache, 0, device="cpu")
    source = ModelSource("synthetic:qwen2-tiny", "synthetic", str(folder))
    req = LoadRequest(source=source, device="cpu", cache_dir=cache, seed=0)
    notes = awq.prepare(req)
    ckpt, reused = awq.cached_checkpoint(req)
    return {"cache": cache, "source": source, "req": req, "notes": notes, "ckpt": ckpt,
            "reused": reused, "synthetic": folder}


def test_checkpoint_is_cached_under_an_rtn_key(built: dict) -> None:
    ckpt = built["ckpt"]
    assert built["reused"] is True  # prepare built it; the second call reused it
    assert ckpt.parent == built["cache"] / "awq" and "-rtn-" in ckpt.name
    assert built["notes"] == ["AWQ: quantized synthetic:qwen2-tiny (by round to nearest, no "
                              f"calibration search) and cached it at {ckpt}"]
    marker = json.loads((ckpt / awq_key.MARKER).read_text())
    assert marker["calibration"] == "rtn" and marker["note"] == awq_rtn.NOTE
    searched = awq_key.cache_key(built["source"], 0, "0.2.9", None, awq_key.GPU_CALIB)
    assert searched != awq_key.cache_key(built["source"], 0, "0.2.9", None, "rtn")
    assert searched == awq_key.cache_key(built["source"], 0, "0.2.9")
    on_cpu = awq_key.cache_key(built["source"], 0, "0.2.9", None, awq_key.CPU_CALIB)
    assert on_cpu not in (searched, awq_key.cache_key(built["source"], 0, "0.2.9", None, "rtn"))


def test_a_second_call_reuses_the_files(built: dict) -> None:
    files = {p.name: p.stat().st_mtime_ns for p in built["ckpt"].iterdir()}
    assert awq.prepare(built["req"]) == [
        f"AWQ: reused the cached quantization (by round to nearest, no calibration search) at {built['ckpt']}"]
    assert {p.name: p.stat().st_mtime_ns for p in built["ckpt"].iterdir()} == files


def test_config_is_autoawqs(built: dict) -> None:
    config = json.loads((built["ckpt"] / "config.json").read_text())
    assert config["quantization_config"] == {"quant_method": "awq", "zero_point": True,
                                             "group_size": GROUP, "bits": 4, "version": "gemm",
                                             "modules_to_not_convert": None}
    assert config["dtype"] == "float16"


def test_every_decoder_linear_is_packed_from_the_synthetic_weights(built: dict) -> None:
    from safetensors.torch import load_file

    src = load_file(str(built["synthetic"] / "model.safetensors"))
    out = {}
    for f in built["ckpt"].glob("*.safetensors"):
        out.update(load_file(str(f)))
    linears = [k.removesuffix(".weight") for k in src if k.endswith("proj.weight")]
    assert len(linears) == 2 * 7
    for prefix in linears:
        want = awq_rtn.pack_gemm(*awq_rtn.rtn_quantize(src[f"{prefix}.weight"].half(), GROUP), GROUP)
        assert all(torch.equal(out[f"{prefix}.{k}"], v) for k, v in want.items()), prefix
        assert f"{prefix}.weight" not in out
    assert torch.equal(out["model.layers.0.self_attn.q_proj.bias"], src["model.layers.0.self_attn.q_proj.bias"].half())
    assert out["model.embed_tokens.weight"].dtype == torch.float16


def test_loads_on_the_cpu_and_generates(built: dict) -> None:
    loaded = awq.load(built["req"])
    assert awq_rtn.NOTE in loaded.notes
    assert loaded.dtype == "int4 weights (g128), float16 activations"
    layer = loaded.model.model.layers[1].mlp.down_proj
    assert type(layer).__name__ != "Linear" and layer.qweight.dtype == torch.int32
    ids = torch.arange(3, 11).reshape(1, 8)
    with torch.no_grad():
        out = loaded.model.generate(ids, max_new_tokens=4, do_sample=False, min_new_tokens=4)
    assert out.shape == (1, 12) and torch.equal(out[:, :8], ids)


def test_real_sources_keep_the_calibrated_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(awq, "quantized_checkpoint",
                        lambda *a: calls.append("search") or (tmp_path / "q", False))
    monkeypatch.setattr(awq_rtn, "rtn_checkpoint", lambda *a: calls.append("rtn") or (tmp_path, False))
    real = ModelSource(str(tmp_path), "local", str(tmp_path))
    notes = awq.prepare(LoadRequest(source=real, device="cpu", cache_dir=tmp_path))
    assert calls == ["search"] and notes == [
        f"AWQ: quantized {tmp_path} (calibrated on 8 x 256 token-id sequences, clipping searched on "
        f"64 tokens (float32)) and cached it at {tmp_path / 'q'}"]
