"""Test-only helpers: never loaded by a normal session."""

from __future__ import annotations

from typing import Any, Callable

import pytest


def after_each_load(config: pytest.Config, change: Callable[[Any], Any]) -> None:
    """For this pytest session, call ``change(model)`` on every model the runner loads (a fault
    plugin's hook), and undo the patch when the session ends."""
    from quantbench.run.runner import Runner  # torch: loaded only by a fault plugin that patches it

    original = Runner.load

    def load(self: Runner, method: str) -> Any:
        loaded = original(self, method)
        change(loaded.model)
        return loaded

    Runner.load = load  # type: ignore[method-assign]
    config.add_cleanup(lambda: setattr(Runner, "load", original))


def when_set(config: pytest.Config, dest: str, change: Callable[[Any, Any], Any]) -> None:
    """A fault plugin's switch: when option ``dest`` is above 0, ``change(model, value)`` on every
    model the runner loads (``after_each_load``); otherwise nothing."""
    value = config.getoption(dest) or 0
    if value > 0:
        after_each_load(config, lambda model: change(model, value))
