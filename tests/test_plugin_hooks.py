"""quantbench's hooks (``plugin.hookspec``): the plugin registers the hookspecs."""

from __future__ import annotations

import pytest

HOOKS = ("pytest_quantbench_model_loaded", "pytest_quantbench_engine_made", "pytest_quantbench_work_pass")


def test_the_plugin_registers_its_hookspecs_each_firstresult() -> None:
    import quantbench.plugin as plugin

    manager = pytest.PytestPluginManager()
    manager.register(plugin)
    manager.hook.pytest_addhooks.call_historic(kwargs={"pluginmanager": manager})
    for name in HOOKS:
        caller = getattr(manager.hook, name)
        assert caller.spec is not None and caller.spec.opts["firstresult"], name
