"""All private third-party hooks in one place, each with the versions it was checked against.

quantbench leans on a few things its dependencies do not promise to keep: internal helpers,
module internals, the inner workings of a class it subclasses. Each such hook lives here, with a
comment naming the package versions it was checked against, so an upgrade that breaks one breaks
in this file, where the next reader looks first. Heavy packages are imported inside the hooks.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any


@functools.cache
def awq_gemm_linear() -> type:
    """autoawq's ``WQLinear_GEMM`` with its kernel chosen by where the input is, not what is installed.

    autoawq 0.2.9 picks the kernel by import: its CUDA extension, else Triton whenever ``triton``
    imports (autoawq requires triton, so pip installs it on every Linux box), else
    dequantise-then-matmul. Triton's kernel needs a GPU tensor: given a CPU tensor it fails
    inside ``torch.cuda`` (``'<' not supported between 'NoneType' and 'int'``). This subclass
    runs autoawq's own fallback on a CPU input and autoawq's forward, unchanged, anywhere else.
    """
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
