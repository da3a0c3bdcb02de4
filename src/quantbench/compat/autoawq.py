"""autoawq's internals quantbench relies on, all read in autoawq 0.2.9 (its last version).

AWQ checkpoints quantbench writes itself (``methods.awq_rtn``) must be bit for bit what autoawq would
write, and the subclasses below override autoawq's internal methods; another autoawq could pack in
another order or rename what is overridden without failing, so every hook here refuses an autoawq
outside ``AUTOAWQ_SUPPORTED`` with one line (``check_autoawq``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import sys
import types
from typing import Any

from quantbench.compat.versions import require

AUTOAWQ_SUPPORTED = ">=0.2.9,<0.2.10"
AUTOAWQ_CHECKED = "autoawq 0.2.9"
# autoawq 0.2.9's order of eight 4-bit values in one int32: ``WQLinear_GEMM.from_linear``'s
# ``order_map`` (the same as ``awq.utils.packing_utils.AWQ_ORDER``, which its unpacking reverses).
PACK_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)


def check_autoawq() -> str:
    """The installed autoawq's version; ``UnsupportedVersion`` outside ``AUTOAWQ_SUPPORTED``."""
    return require("autoawq", AUTOAWQ_SUPPORTED, AUTOAWQ_CHECKED, "AWQ packing and CPU search")


def awq_pack_order() -> tuple[int, ...]:
    """The order in which autoawq packs eight 4-bit values into one int32 (``PACK_ORDER``)."""
    check_autoawq()
    return PACK_ORDER


def defer_package_init() -> None:
    """Let ``import awq.<submodule>`` skip autoawq's package ``__init__`` until a name of the
    package itself is asked for (``from awq import AutoAWQForCausalLM``, ``awq.__version__``),
    which then runs it as an import would.

    Why: autoawq 0.2.9's ``awq/__init__.py`` imports ``awq.models``: every model family, datasets
    and the calibration code, seconds of import time (``python -X importtime``), while loading a GEMM checkpoint needs only ``awq.modules.linear.gemm``. Nothing is done when
    ``awq`` is already imported or not installed."""
    if "awq" in sys.modules:
        return
    spec = importlib.util.find_spec("awq")
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return
    package = types.ModuleType("awq")
    package.__spec__, package.__loader__, package.__file__ = spec, spec.loader, spec.origin
    package.__path__, package.__package__ = list(spec.submodule_search_locations), "awq"
    loading: list[bool] = []

    def __getattr__(name: str) -> Any:
        if loading or (name.startswith("__") and name != "__version__"):
            raise AttributeError(f"module 'awq' has no attribute {name!r}")
        loading.append(True)
        spec.loader.exec_module(package)  # the package's own __init__, into this module
        return package.__dict__[name] if name in package.__dict__ else __getattr__(name)

    package.__getattr__ = __getattr__  # type: ignore[attr-defined]  # PEP 562
    sys.modules["awq"] = package


def awq_gemm_class(device: str) -> type:
    """The GEMM layer to build an AWQ model with on ``device``: autoawq's own ``WQLinear_GEMM`` on a
    GPU (its kernels, and no extra Python frame per call), ``awq_gemm_linear()`` on the CPU."""
    if device == "cpu":
        return awq_gemm_linear()
    check_autoawq()
    defer_package_init()
    from awq.modules.linear.gemm import WQLinear_GEMM

    return WQLinear_GEMM


@functools.cache
def awq_gemm_linear() -> type:
    """autoawq's ``WQLinear_GEMM`` with its kernel chosen by where the input is, not what is installed.

    autoawq 0.2.9 picks the kernel by import: its CUDA extension, else Triton whenever ``triton``
    imports (autoawq requires triton, so pip installs it on every Linux box), else
    dequantise-then-matmul. Triton's kernel needs a GPU tensor: given a CPU tensor it fails
    inside ``torch.cuda`` (``'<' not supported between 'NoneType' and 'int'``). This subclass
    runs autoawq's own fallback on a CPU input and autoawq's forward, unchanged, anywhere else.
    """
    check_autoawq()
    defer_package_init()
    import torch
    # Hook, checked against autoawq 0.2.9 with torch 2.13.0: awq.utils.packing_utils.dequantize_gemm
    # is an internal helper, and the subclass reads WQLinear_GEMM's buffers (qweight, qzeros,
    # scales, bias) and attributes (w_bit, group_size, out_features, training) the way the
    # fallback branch of awq.modules.linear.gemm.WQLinearMMFunction.forward does.
    from awq.modules.linear.gemm import WQLinear_GEMM
    from awq.utils.packing_utils import dequantize_gemm

    class DeviceAwareWQLinearGEMM(WQLinear_GEMM):
        """``WQLinear_GEMM`` that dequantises then multiplies when its input is on the CPU."""

        def forward(self, x: Any) -> Any:
            if x.device.type != "cpu":
                return super().forward(x)
            out_shape = x.shape[:-1] + (self.out_features,)
            with contextlib.nullcontext() if self.training else torch.no_grad():
                weight = dequantize_gemm(self.qweight, self.qzeros, self.scales,
                                         self.w_bit, self.group_size)
                out = torch.matmul(x.to(torch.float16), weight)
                if self.bias is not None:
                    out = out + self.bias
            return out.to(x.dtype).reshape(out_shape)

    return DeviceAwareWQLinearGEMM


@functools.cache
def awq_quantizer(clip_tokens: int | None = None) -> type:
    """autoawq's ``AwqQuantizer`` with its scale search able to undo its trials on a CPU, and the
    clipping search's token sample set to ``clip_tokens`` (None: autoawq's 512).

    autoawq 0.2.9's ``_compute_best_scale`` snapshots the inspected module as
    ``{k: v.cpu() for k, v in module.state_dict().items()}``, scales each linear's weight in place
    for each of its 20 trial ratios, and restores the snapshot after each. On a GPU ``.cpu()``
    copies; on a CPU it returns the very tensor being scaled, so the "snapshot" is the first trial's
    scaled weight and the search leaves every searched linear multiplied by it, with no inverse
    applied to the layer before. SmolLM2-135M calibrated this way on a CPU scored perplexity
    74,431 against 39.56 (docs/findings.md). This subclass makes the snapshot a copy
    for the length of each search, by a state-dict post-hook on the inspected module.

    The clipping search costs (tokens sampled) x (weights) x 20 trials whatever the calibration
    size; with 512 tokens it is most of the 784 s SmolLM2's search takes on 2 CPU cores.
    """
    check_autoawq()
    # Hook, checked against autoawq 0.2.9 with torch 2.13.0: AwqQuantizer._compute_best_scale and
    # _compute_best_clip (w, input_feat, n_grid, max_shrink, n_sample_token) are internal;
    # AutoAWQForCausalLM.quantize takes the class as ``quantizer_cls``.
    from awq.quantize.quantizer import AwqQuantizer

    def copy_cpu_tensors(module: Any, state: dict, prefix: str, metadata: Any) -> None:
        for key, value in state.items():
            if value.device.type == "cpu":
                state[key] = value.detach().clone()

    class SnapshotAwqQuantizer(AwqQuantizer):
        """``AwqQuantizer`` whose scale search restores the original weights on a CPU too."""

        def _compute_best_scale(self, x: Any, w_mean: Any, x_mean: Any, module2inspect: Any,
                                *args: Any, **kwargs: Any) -> Any:
            handle = module2inspect.register_state_dict_post_hook(copy_cpu_tensors)
            try:
                return super()._compute_best_scale(x, w_mean, x_mean, module2inspect, *args, **kwargs)
            finally:
                handle.remove()

        def _compute_best_clip(self, w: Any, input_feat: Any, *args: Any, **kwargs: Any) -> Any:
            if clip_tokens is not None and not args:
                kwargs["n_sample_token"] = clip_tokens
            return super()._compute_best_clip(w, input_feat, *args, **kwargs)

    return SnapshotAwqQuantizer


