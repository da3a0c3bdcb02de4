"""Availability of each quantization method: the one-line reason when it cannot run here."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from quantbench import methods
from quantbench.methods import METHODS, LoadError, Method, unavailable_reason
from quantbench.catalog import METHOD_NAMES


def _missing(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)  # import raises ModuleNotFoundError


def _present(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    for name in names:
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))


def _installed_from(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, init: str) -> None:
    """Make ``import name`` run ``init`` from a package under ``tmp_path``."""
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text(init)
    monkeypatch.setitem(sys.modules, name, None)  # recorded, so the original state comes back
    monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_registry_matches_the_settings_names() -> None:
    assert tuple(METHODS) == METHOD_NAMES
    assert METHODS["int8"].packages == ("bitsandbytes",)
    assert METHODS["nf4"].packages == ("bitsandbytes",)
    assert METHODS["int8vw"].packages == ("bitsandbytes",)
    assert METHODS["awq"].packages == ("awq",)
    assert METHODS["awq"].cuda_packages == ("triton",)
    assert METHODS["awq"].prepare is not None
    assert METHODS["fp16"].packages == () and METHODS["bf16"].packages == ()


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("name", ["fp16", "bf16"])
def test_half_precision_needs_nothing(name: str, device: str) -> None:
    assert unavailable_reason(name, device) is None


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("name", ["int8", "nf4", "int8vw"])
def test_bitsandbytes_missing(monkeypatch: pytest.MonkeyPatch, name: str, device: str) -> None:
    _missing(monkeypatch, "bitsandbytes")
    _present(monkeypatch, "triton")
    reason = unavailable_reason(name, device)
    assert reason == f"{name}: bitsandbytes is not installed (pip install 'quantbench[bnb]')"
    assert "\n" not in reason


@pytest.mark.parametrize("name", ["int8", "nf4"])
def test_bitsandbytes_present(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    _present(monkeypatch, "bitsandbytes")
    assert unavailable_reason(name, "cpu") is None
    assert unavailable_reason(name, "cuda") is None


def test_awq_missing_names_autoawq(monkeypatch: pytest.MonkeyPatch) -> None:
    _missing(monkeypatch, "awq")
    assert unavailable_reason("awq", "cpu") == "awq: autoawq is not installed (pip install 'quantbench[awq]')"


def test_awq_on_cuda_names_triton_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    _present(monkeypatch, "awq")
    _missing(monkeypatch, "triton")
    assert unavailable_reason("awq", "cuda") == "awq: triton is not installed (pip install 'triton')"


def test_awq_on_cpu_does_not_need_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    _present(monkeypatch, "awq")
    _missing(monkeypatch, "triton")
    assert unavailable_reason("awq", "cpu") is None


def test_awq_on_cuda_with_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    _present(monkeypatch, "awq", "triton")
    assert unavailable_reason("awq", "cuda") is None


def test_awq_checks_autoawq_before_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    _missing(monkeypatch, "awq", "triton")
    assert unavailable_reason("awq", "cuda") == "awq: autoawq is not installed (pip install 'quantbench[awq]')"


def test_broken_install_gives_the_first_line_of_the_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _installed_from(monkeypatch, tmp_path, "bitsandbytes",
                    "raise RuntimeError('CUDA Setup failed despite GPU being available.\\n"
                    "Inspect the output above')\n")
    reason = unavailable_reason("nf4", "cpu")
    assert reason == "nf4: bitsandbytes failed to import: CUDA Setup failed despite GPU being available."


def test_broken_install_without_message_gives_the_type(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """autoawq is checked through the layer quantbench uses (its package __init__ is deferred):
    a layer module that raises makes AWQ unavailable, with the error's type when it says nothing."""
    _installed_from(monkeypatch, tmp_path, "awq", "raise RuntimeError('never run: deferred')\n")
    for name in ("awq.modules", "awq.modules.linear", "awq.modules.linear.gemm"):
        monkeypatch.setitem(sys.modules, name, None)  # recorded, so the original state comes back
        monkeypatch.delitem(sys.modules, name)
    (tmp_path / "awq" / "modules" / "linear").mkdir(parents=True)
    (tmp_path / "awq" / "modules" / "__init__.py").write_text("")
    (tmp_path / "awq" / "modules" / "linear" / "__init__.py").write_text("")
    (tmp_path / "awq" / "modules" / "linear" / "gemm.py").write_text("raise OSError()\n")
    assert unavailable_reason("awq", "cpu") == "awq: autoawq failed to import: OSError"


def test_working_install_from_disk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _installed_from(monkeypatch, tmp_path, "bitsandbytes", "VERSION = 'fake'\n")
    assert unavailable_reason("int8", "cuda") is None


def test_missing_dependency_of_an_installed_package_is_not_called_missing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _installed_from(monkeypatch, tmp_path, "bitsandbytes", "import qb_missing_dependency_xyz\n")
    reason = unavailable_reason("int8", "cpu")
    assert reason is not None
    assert "qb_missing_dependency_xyz" in reason
    assert "bitsandbytes is not installed" not in reason


def test_gpu_only_method_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu_only = Method("gpuonly", ("bitsandbytes",), methods.load_fp16, cpu_ok=False)
    monkeypatch.setitem(METHODS, "gpuonly", gpu_only)
    _missing(monkeypatch, "bitsandbytes")
    assert unavailable_reason("gpuonly", "cpu") == "gpuonly needs a CUDA GPU"
    assert unavailable_reason("gpuonly", "cuda") == (
        "gpuonly: bitsandbytes is not installed (pip install 'quantbench[bnb]')")


def test_unknown_method_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        unavailable_reason("gptq", "cpu")


def test_torchao_int4_needs_cuda() -> None:
    assert methods.unavailable_reason("int4wo", "cpu") == "int4wo needs a CUDA GPU"


def test_missing_torchao_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchao", None)
    assert methods.unavailable_reason("int8wo", "cpu") == (
        "int8wo: torchao is not installed (pip install 'quantbench[torchao]')")


def test_torchao_built_for_another_torch_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    torchao = pytest.importorskip("torchao")
    monkeypatch.setattr(torchao, "_skip_reason", "Skipping import of cpp extensions due to "
                        "incompatible torch version. Please upgrade to torch >= 2.11.0 (found 2.9.0).",
                        raising=False)
    reason = methods.unavailable_reason("int8wo", "cpu")
    assert reason is not None and reason.startswith(f"int8wo: torchao {torchao.__version__} does not support torch")


def test_awq_checkpoints_saved_without_a_kv_cache_get_it_back() -> None:
    from types import SimpleNamespace

    from quantbench.methods.awq import enable_kv_cache

    # autoawq writes use_cache=false into the quantized config.json; generate then runs cacheless
    model = SimpleNamespace(config=SimpleNamespace(use_cache=False),
                            generation_config=SimpleNamespace(use_cache=False))
    note = enable_kv_cache(model)
    assert model.config.use_cache is True and model.generation_config.use_cache is True
    assert note == ("AWQ: the checkpoint's config.json says use_cache=false (autoawq's calibration "
                    "setting); quantbench turned the KV cache back on")
    assert enable_kv_cache(model) is None  # nothing left to fix


def test_int4wo_uses_torch_tinygemm_packing_in_bfloat16(monkeypatch) -> None:
    pytest.importorskip("torchao")
    from quantbench import methods

    seen = {}

    def fake_torchao(req, name, config, label):
        seen.update(name=name, packing=str(config.int4_packing_format), group=config.group_size,
                    half=methods.METHODS[name].half)

    monkeypatch.setattr(methods, "_torchao", fake_torchao)
    methods.load_int4wo(None)
    assert seen == {"name": "int4wo", "packing": "tile_packed_to_4d", "group": 128, "half": "bf16"}


@pytest.mark.parametrize(("name", "dtype"), [("int8wo", "float16"), ("int4wo", "bfloat16"),
                                             ("fp8wo", "bfloat16"), ("fp8dq", "bfloat16")])
def test_a_torchao_model_loads_in_its_methods_half_dtype_on_a_gpu(monkeypatch, name, dtype) -> None:
    """The dtype a torchao model loads in on a GPU is ``Method.half``, the one fact the -n
    scheduler also reads (one cuDNN warm-up per dtype a worker runs)."""
    pytest.importorskip("torchao")
    import torchao.quantization

    loaded = {}
    monkeypatch.setattr(methods, "_from_pretrained", lambda req, **kw: loaded.update(kw) or object())
    monkeypatch.setattr(torchao.quantization, "quantize_", lambda model, config: None)
    req = methods.LoadRequest(None, "cuda", Path("."))
    model = methods.METHODS[name].load(req)
    assert str(loaded["dtype"]) == f"torch.{dtype}" and model.dtype.endswith(f"{dtype} activations")


def test_awq_group_size_is_the_largest_that_divides_the_widths(tmp_path) -> None:
    import json
    from types import SimpleNamespace

    from quantbench.methods.awq import checkpoint_group
    from quantbench.methods.awq_key import QUANT_CONFIG, group_size, quant_config

    assert group_size(896, 4864) == 128  # Qwen2.5-0.5B: AWQ's usual group
    assert group_size(576, 1536) == 64  # SmolLM2-135M: 576 is not a multiple of 128
    assert group_size(128, 384) == 128  # the tiny synthetic model
    with pytest.raises(LoadError, match="hidden size 100 and intermediate size 384"):
        group_size(100, 384)
    assert quant_config(SimpleNamespace(hidden_size=896, intermediate_size=4864)) == QUANT_CONFIG
    assert quant_config(SimpleNamespace(hidden_size=576, intermediate_size=1536))["q_group_size"] == 64
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": {"group_size": 64}}))
    assert checkpoint_group(tmp_path) == "64"
    assert checkpoint_group(tmp_path / "missing") == "?"


def _fake_gpu(monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int], name: str) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)


@pytest.mark.parametrize("name", ["fp8wo", "fp8dq"])
def test_fp8_on_the_cpu_is_skipped_with_the_reason(name: str) -> None:
    assert unavailable_reason(name, "cpu") == (
        f"{name} needs a CUDA GPU with compute capability 8.9 or newer (FP8)")


@pytest.mark.parametrize("name", ["fp8wo", "fp8dq"])
@pytest.mark.parametrize(("capability", "gpu"), [((7, 5), "Tesla T4"),
                                                  ((8, 0), "NVIDIA A100-SXM4-80GB")])
def test_fp8_on_a_gpu_without_fp8_is_skipped_with_the_reason(
        monkeypatch: pytest.MonkeyPatch, name: str, capability: tuple[int, int], gpu: str) -> None:
    _fake_gpu(monkeypatch, capability, gpu)
    _present(monkeypatch, "torchao")  # the device is refused before any package is imported
    reason = unavailable_reason(name, "cuda")
    assert reason == (f"{name} needs FP8 support (compute capability 8.9 or newer); this {gpu} is "
                      f"{capability[0]}.{capability[1]}")
    assert "\n" not in reason


@pytest.mark.parametrize("name", ["fp8wo", "fp8dq"])
@pytest.mark.parametrize("capability", [(8, 9), (9, 0), (10, 0)])
def test_fp8_on_ada_hopper_and_blackwell_runs(monkeypatch: pytest.MonkeyPatch, name: str,
                                              capability: tuple[int, int]) -> None:
    _fake_gpu(monkeypatch, capability, "GPU")
    _present(monkeypatch, "torchao")
    monkeypatch.setattr(methods, "torchao_mismatch", lambda: None)
    assert unavailable_reason(name, "cuda") is None


def test_fp8_without_torchao_on_hopper_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_gpu(monkeypatch, (9, 0), "NVIDIA H200")
    monkeypatch.setitem(sys.modules, "torchao", None)
    assert unavailable_reason("fp8dq", "cuda") == (
        "fp8dq: torchao is not installed (pip install 'quantbench[torchao]')")


def test_fp8_entries() -> None:
    assert METHOD_NAMES[-2:] == ("fp8wo", "fp8dq")
    for name in ("fp8wo", "fp8dq"):
        method = METHODS[name]
        assert method.packages == ("torchao",) and not method.cpu_ok
        assert method.min_capability == methods.FP8_CAPABILITY == (8, 9)
    assert all(METHODS[n].min_capability is None for n in METHOD_NAMES[:-2])


@pytest.mark.parametrize(("name", "config", "granularity"), [
    ("fp8wo", "Float8WeightOnlyConfig", "PerRow"),
    ("fp8dq", "Float8DynamicActivationFloat8WeightConfig", "PerRow"),
])
def test_fp8_loads_torchao_configs_with_row_wise_scales_in_bfloat16(
        monkeypatch: pytest.MonkeyPatch, name: str, config: str, granularity: str) -> None:
    pytest.importorskip("torchao")
    seen = {}

    def fake_torchao(req, method, cfg, label):
        seen.update(name=method, config=type(cfg).__name__, half=METHODS[method].half, label=label,
                    granularity=cfg.granularity)

    monkeypatch.setattr(methods, "_torchao", fake_torchao)
    METHODS[name].load(None)
    assert (seen["name"], seen["config"], seen["half"]) == (name, config, "bf16")
    assert "row-wise scales" in seen["label"] and "fp8 e4m3" in seen["label"]
    grans = seen["granularity"] if isinstance(seen["granularity"], list) else [seen["granularity"]]
    assert [type(g).__name__ for g in grans] == [granularity] * len(grans)
    if name == "fp8dq":  # activations per token and weights per output row
        assert len(grans) == 2


def test_readme_and_methods_doc_name_every_method() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `--qb-methods`"))
    listed = {m for cell in row.split("`") for m in cell.split(",")}
    assert [m for m in METHOD_NAMES if m not in listed] == []
    doc = (root / "docs" / "methods.md").read_text(encoding="utf-8")
    assert [m for m in METHOD_NAMES if f"`{m}`" not in doc] == []


@pytest.mark.parametrize("name", ["int8wo", "int4wo", "fp8wo", "fp8dq"])
def test_torchao_methods_leave_inductor_settings_alone(name: str) -> None:
    """torchao's default turns coordinate-descent tuning on for the whole process: every method
    compiled after a torchao load (FP16 too) would compile with tuned kernels, others not."""
    pytest.importorskip("torchao")
    assert methods.torchao_config(name).set_inductor_config is False


def test_a_real_torchao_quantize_leaves_inductor_config_unchanged() -> None:
    pytest.importorskip("torchao")
    import torch
    import torch._inductor.config as inductor
    from torchao.quantization import quantize_

    before = (inductor.coordinate_descent_tuning, inductor.coordinate_descent_check_all_directions,
              inductor.force_fuse_int_mm_with_mul, inductor.triton.unique_kernel_names)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64, dtype=torch.bfloat16))
    quantize_(model, methods.torchao_config("int8wo"))
    assert type(model[0].weight).__name__ != "Parameter"  # it did quantize
    assert (inductor.coordinate_descent_tuning, inductor.coordinate_descent_check_all_directions,
            inductor.force_fuse_int_mm_with_mul, inductor.triton.unique_kernel_names) == before
