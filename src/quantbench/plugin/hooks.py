"""quantbench's hooks in a pytest session: the hookspecs registered (``plugin.hookspec``),
quantbench's own work pass as the hook's last implementation, and the runner's probe bundle
(``run.probes.Probes``) with the hooks bound in, so the runner calls them without knowing pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from quantbench.plugin import hookspec
from quantbench.plugin.keys import SETTINGS

if TYPE_CHECKING:
    from quantbench.run.probes import Probes


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register quantbench's hookspecs, so other plugins' implementations are checked and called."""
    pluginmanager.add_hookspecs(hookspec)


@pytest.hookimpl(trylast=True)
def pytest_quantbench_work_pass(engine: Any, prompt: Any, new_tokens: int, step_ms: float,
                                device: str) -> tuple[dict[str, Any], list[str]]:
    """quantbench's own work pass (``run.work_pass.work_metrics``), unless a plugin gave one."""
    from quantbench.run.work_pass import work_metrics  # torch: once a generate case has run

    return work_metrics(engine, prompt, new_tokens, step_ms, device)


def session_probes(config: pytest.Config) -> Probes:
    """A real session's probes, with the model, engine and work-pass callbacks calling this
    session's hooks (with its settings and config)."""
    from quantbench.run.probes import Probes  # torch: built with the runner

    hook, settings = config.hook, config.stash[SETTINGS]

    def model_loaded(model: Any, method: str) -> Any:
        return hook.pytest_quantbench_model_loaded(model=model, method=method, settings=settings,
                                                   config=config)

    def engine_made(engine: Any, model: Any, mode: str) -> Any:
        return hook.pytest_quantbench_engine_made(engine=engine, model=model, mode=mode,
                                                  settings=settings, config=config)

    def work_pass(engine: Any, prompt: Any, new_tokens: int, step_ms: float,
                  device: str) -> tuple[dict[str, Any], list[str]]:
        return hook.pytest_quantbench_work_pass(engine=engine, prompt=prompt, new_tokens=new_tokens,
                                                step_ms=step_ms, device=device, config=config)

    return Probes.default(model_loaded=model_loaded, engine_made=engine_made, work_pass=work_pass)
