"""Every private or internal third-party API quantbench relies on, in one package.

Each hook names the versions it was checked against; when an upgrade breaks one, this package is
the only place to look. Third-party packages are imported inside each hook, so importing it costs
nothing. Where another version would go wrong without failing (autoawq's packing, xdist's
scheduler), the hook refuses it with one line (``UnsupportedVersion``, ``compat.versions``).

* ``pytest_plugins``: pytest-benchmark's statistics, pytest-xdist's nodes and worker count;
* ``torch_internals``: dynamo's counters and limits, kineto records, tensor-subclass flattening,
  inductor's compile workers;
* ``model_libraries``: transformers, torchao, bitsandbytes and safetensors;
* ``autoawq``: autoawq's packing order, its GEMM layer on a CPU and its calibration search.

Callers write ``compat.<hook>``: every hook is named here.
"""

from __future__ import annotations

from quantbench.compat.autoawq import (awq_gemm_class, awq_gemm_linear, awq_pack_order, awq_quantizer,
                                      check_autoawq, defer_package_init)
from quantbench.compat.model_libraries import (allow_compile, compile_config, os_error_of,
                                               quant_state_tensors, torchao_skip_reason, unwrap_torchao)
from quantbench.compat.pytest_plugins import (check_xdist, mark_used, record_rounds, send_tests, shut_down,
                                              shutting_down, worker_id, xdist_worker_count)
from quantbench.compat.torch_internals import (activity_type, cuda_activity, dynamo_counts,
                                               inner_tensors, reset_dynamo, start_compile_workers)
from quantbench.compat.versions import UnsupportedVersion

__all__ = [
    "UnsupportedVersion", "activity_type", "allow_compile", "awq_gemm_linear",
    "awq_gemm_class", "awq_pack_order", "awq_quantizer", "check_autoawq", "check_xdist",
    "compile_config", "cuda_activity", "defer_package_init",
    "dynamo_counts", "inner_tensors", "mark_used", "os_error_of", "quant_state_tensors", "record_rounds",
    "reset_dynamo", "send_tests", "shut_down", "shutting_down", "start_compile_workers",
    "torchao_skip_reason", "unwrap_torchao",
    "worker_id", "xdist_worker_count",
]
