"""Test-only helpers: never loaded by a normal session."""

from __future__ import annotations

from typing import Any, Callable

import pytest


_PATCHES = pytest.StashKey[pytest.MonkeyPatch]()


def patches(config: pytest.Config) -> pytest.MonkeyPatch:
    """This pytest session's ``MonkeyPatch``: what a test plugin changes through it (attributes,
    environment variables) comes back when the session ends."""
    if _PATCHES not in config.stash:
        config.stash[_PATCHES] = pytest.MonkeyPatch()
        config.add_cleanup(config.stash[_PATCHES].undo)
    return config.stash[_PATCHES]


def patch(config: pytest.Config, owner: Any, name: str, value: Any) -> None:
    """For this pytest session, ``owner.name = value``; the original comes back when it ends."""
    patches(config).setattr(owner, name, value)


def note_work_pass(config: pytest.Config, note: str) -> None:
    """For this pytest session, every generate case's notes end with ``note`` (how a test plugin
    changed its work pass), so the record says what it was measured under."""
    from quantbench.run import runner  # torch: loaded only by a plugin that is switched on

    work_metrics = runner.work_metrics

    def noted(*args: Any, **kwargs: Any) -> Any:
        work, notes = work_metrics(*args, **kwargs)
        return work, [*notes, note]
    patch(config, runner, "work_metrics", noted)


def after_each_load(config: pytest.Config, change: Callable[[Any], Any]) -> None:
    """For this pytest session, call ``change(model)`` on every model the runner loads (a fault
    plugin's hook), and undo the patch when the session ends."""
    from quantbench.run.runner import Runner  # torch: loaded only by a fault plugin that patches it

    original = Runner.load

    def load(self: Runner, method: str) -> Any:
        loaded = original(self, method)
        change(loaded.model)
        return loaded

    patch(config, Runner, "load", load)


def when_set(config: pytest.Config, dest: str, change: Callable[[Any, Any], Any]) -> None:
    """A fault plugin's switch: when option ``dest`` is above 0, ``change(model, value)`` on every
    model the runner loads (``after_each_load``); otherwise nothing."""
    value = config.getoption(dest) or 0
    if value > 0:
        after_each_load(config, lambda model: change(model, value))
