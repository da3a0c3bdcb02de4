"""Test-only pytest plugins, never loaded by a normal session: each adds an option and, when it
is set, implements quantbench's hooks (``quantbench.plugin.hookspec``) to inject a known fault."""

from __future__ import annotations

from typing import Any, Callable

import pytest


def when_set(config: pytest.Config, dest: str, change: Callable[[Any, Any], Any], model: Any) -> None:
    """A fault plugin's switch in its ``pytest_quantbench_model_loaded``: when option ``dest`` is
    above 0, ``change(model, value)`` in place; otherwise nothing."""
    value = config.getoption(dest) or 0
    if value > 0:
        change(model, value)
