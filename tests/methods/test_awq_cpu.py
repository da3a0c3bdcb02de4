"""AWQ on the CPU, whether or not triton is importable (issue 12).

autoawq 0.2.9 runs its Triton GEMM whenever triton imports, and that kernel fails on a CPU
tensor; pip installs triton with autoawq. The CPU layers quantbench builds must take autoawq's
dequantise-then-matmul fallback by where the input is. The weights here are exact in float16
(small integers times powers of two), so a one-hot input reads the weight matrix back exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("awq")
torch = pytest.importorskip("torch")

GROUP = 128


def _exact_weights(out_f: int, in_f: int, seed: int, shift: int) -> tuple[Any, Any, Any]:
    """A float16 weight that 4-bit AWQ holds exactly, with its per-group scales and zeros.

    The scales are powers of two from 2**-(1 + shift) to 2**-(4 + shift)."""
    gen = torch.Generator().manual_seed(seed)
    groups = in_f // GROUP
    q = torch.randint(0, 16, (out_f, in_f), generator=gen)
    zeros = torch.randint(0, 16, (groups, out_f), generator=gen)
    scales = 2.0 ** -(shift + torch.randint(1, 5, (groups, out_f), generator=gen)).to(torch.float16)
    per_col = lambda t: t.t().repeat_interleave(GROUP, dim=1)  # noqa: E731 - (groups, out) -> (out, in)
    weight = ((q - per_col(zeros)) * per_col(scales)).to(torch.float16)
    return weight, scales, zeros


def _quantized(cls: type, out_f: int, in_f: int, seed: int, bias: bool,
               shift: int = 0) -> tuple[Any, Any, Any]:
    """``cls.from_linear`` on an exact weight; returns the layer, the weight and the bias."""
    weight, scales, zeros = _exact_weights(out_f, in_f, seed, shift)
    linear = torch.nn.Linear(in_f, out_f, bias=bias, dtype=torch.float16)
    linear.weight.data = weight
    if bias:
        linear.bias.data = torch.arange(out_f, dtype=torch.float16) / 2
    layer = cls.from_linear(linear, 4, GROUP, scales=scales, zeros=zeros)
    return layer.eval(), weight, linear.bias.data if bias else None


def check_cpu_layer() -> None:
    """The device-aware layer on a CPU input is exactly ``x @ W.T + b``, in the input's dtype."""
    from quantbench.compat import awq_gemm_linear

    layer, weight, bias = _quantized(awq_gemm_linear(), 64, 2 * GROUP, seed=1, bias=True)
    x = torch.eye(2 * GROUP, dtype=torch.float32).reshape(2, GROUP, 2 * GROUP)
    out = layer(x)
    assert out.dtype == torch.float32 and out.shape == (2, GROUP, 64)
    assert torch.equal(out.reshape(2 * GROUP, 64), (weight.t() + bias).float())


def test_a_cpu_input_takes_the_dequantise_then_matmul_path() -> None:
    check_cpu_layer()


def test_a_cpu_input_works_when_triton_cannot_be_imported() -> None:
    tests = Path(__file__).parent
    code = ("import sys; sys.modules['triton'] = None\n"
            "import awq.modules.linear.gemm as g; assert not g.TRITON_AVAILABLE\n"
            f"sys.path.insert(0, {str(tests)!r}); import test_awq_cpu; test_awq_cpu.check_cpu_layer()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def test_other_devices_keep_autoawqs_own_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    from awq.modules.linear.gemm import WQLinear_GEMM

    from quantbench.compat import awq_gemm_linear

    monkeypatch.setattr(WQLinear_GEMM, "forward", lambda self, x: ("autoawq", x.device.type))
    layer = awq_gemm_linear()(4, GROUP, GROUP, 8, False, "meta")
    assert layer(torch.empty(1, GROUP, device="meta")) == ("autoawq", "meta")


def test_the_gemm_layer_loads_without_autoawqs_model_families_until_the_package_is_asked() -> None:
    """``compat.defer_package_init``: the GPU layer class comes without ``awq.models`` (autoawq's
    ``__init__`` imports every model family: seconds); asking the package for a name then runs
    its ``__init__`` as an import would, and a name it lacks is still an AttributeError."""
    code = ("import sys\n"
            "from quantbench.compat import awq_gemm_class\n"
            "cls = awq_gemm_class('cuda')\n"
            "assert cls.__name__ == 'WQLinear_GEMM' and cls.__module__ == 'awq.modules.linear.gemm'\n"
            "assert 'awq.models' not in sys.modules and 'datasets' not in sys.modules\n"
            "import awq\n"
            "assert awq.__version__ == '0.2.9' and 'awq.models' in sys.modules\n"
            "from awq import AutoAWQForCausalLM\n"
            "assert AutoAWQForCausalLM.__module__ == 'awq.models.auto'\n"
            "try:\n    awq.no_such_name\nexcept AttributeError:\n    print('ok')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def _tiny_qwen2() -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(hidden_size=GROUP, intermediate_size=2 * GROUP, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=1, vocab_size=96,
                       tie_word_embeddings=False, max_position_embeddings=64)


def test_a_checkpoint_loaded_on_the_cpu_runs_a_forward(tmp_path: Path) -> None:
    """``load_gemm`` on the CPU gives the logits of the same model with the dequantised weights."""
    from awq.modules.linear.gemm import WQLinear_GEMM
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    from quantbench.methods.awq import load_gemm

    config = _tiny_qwen2()
    torch.manual_seed(0)
    reference = AutoModelForCausalLM.from_config(config, dtype=torch.float16).eval()
    state = {}
    layer = reference.model.layers[0]
    for seed, (name, linear) in enumerate(list(layer.named_modules())):
        if not isinstance(linear, torch.nn.Linear):
            continue
        q, weight, _ = _quantized(WQLinear_GEMM, linear.out_features, linear.in_features, seed,
                                  False, shift=6)
        linear.weight.data = weight
        prefix = f"model.layers.0.{name}"
        state.update({f"{prefix}.{k}": v for k, v in q.state_dict().items()})
        if linear.bias is not None:
            state[f"{prefix}.bias"] = linear.bias.data.clone()
    for key, value in reference.state_dict().items():
        if not key.startswith("model.layers.0.") or "norm" in key:
            state[key] = value.clone()
    save_file(state, str(tmp_path / "model.safetensors"))
    config.quantization_config = {"quant_method": "awq", "bits": 4, "group_size": GROUP,
                                  "version": "gemm", "zero_point": True}
    config.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["quantization_config"]["bits"] == 4

    model = load_gemm(tmp_path, "cpu")
    ids = torch.arange(12).reshape(2, 6)
    with torch.no_grad():
        got, want = model(ids).logits, reference(ids).logits
    assert got.shape == (2, 6, 96)
    assert want.float().std() > 0.05  # logits that vary, so the comparison says something
    torch.testing.assert_close(got, want, rtol=1e-2, atol=1e-2)
