"""Test-only pytest plugin: one added device synchronisation per forward (a ``.item()``).

Load it with ``-p quantbench.testing.syncs --qb-add-syncs 1`` to prove the gate catches host
work the GPU does not see: each forward of the model then reads one element of its logits back to
the host, a device-to-host copy and a stream synchronisation per decode step, as a stray
``.item()`` in a decode loop would. The kernels are unchanged, so only the host-work counters
(synchronisations and host<->device copies per token) can tell.
"""

from __future__ import annotations

from typing import Any

import pytest

from quantbench.testing import when_set


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("quantbench").addoption(
        "--qb-add-syncs", dest="qb_add_syncs", type=int, default=0,
        help="test only: read this many logits back to the host (.item()) after every forward")


def add_syncs(model: Any, count: int) -> None:
    """Hook ``model`` so each forward ends in ``count`` ``.item()`` reads of its logits."""
    if getattr(model, "_qb_syncs", None) is not None:
        return

    def after(module: Any, args: Any, output: Any) -> Any:
        logits = output.logits if hasattr(output, "logits") else output[0]
        for i in range(count):
            logits.reshape(-1)[i].item()
        return output

    model.register_forward_hook(after)
    model._qb_syncs = count


def pytest_quantbench_model_loaded(model: Any, config: pytest.Config) -> None:
    """Every model the session loads reads its logits back, when ``--qb-add-syncs`` asks."""
    when_set(config, "qb_add_syncs", add_syncs, model)
