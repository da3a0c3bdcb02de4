"""quantbench's hooks in a pytest session: the hookspecs registered (``plugin.hookspec``) and
quantbench's own work pass as the hook's last implementation."""

from __future__ import annotations

from typing import Any

import pytest

from quantbench.plugin import hookspec


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register quantbench's hookspecs, so other plugins' implementations are checked and called."""
    pluginmanager.add_hookspecs(hookspec)


@pytest.hookimpl(trylast=True)
def pytest_quantbench_work_pass(engine: Any, prompt: Any, new_tokens: int, step_ms: float,
                                device: str) -> tuple[dict[str, Any], list[str]]:
    """quantbench's own work pass (``run.work_pass.work_metrics``), unless a plugin gave one."""
    from quantbench.run.work_pass import work_metrics  # torch: once a generate case has run

    return work_metrics(engine, prompt, new_tokens, step_ms, device)
