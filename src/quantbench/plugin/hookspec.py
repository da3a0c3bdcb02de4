"""quantbench's hookspecs: where a pytest plugin (a test plugin of ``quantbench.testing``, a
user's conftest) may change what a session measures, without patching quantbench.

The plugin registers them through ``pytest_addhooks`` (``plugin.hooks``); a plugin implements a
hook by defining a function of its name, taking any of its arguments. pytest only collects
hooks named ``pytest_*``, hence the prefix. Each hook is ``firstresult``: the first
implementation that returns something other than ``None`` gives the result, and the rest are
not called. So an implementation that changes an object in place returns ``None`` (the others
then still run), and one that returns a replacement has the last word. ``docs/hooks.md`` shows
how to write one.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.hookspec(firstresult=True)
def pytest_quantbench_model_loaded(model: Any, method: str, settings: Any, config: pytest.Config) -> Any:
    """After ``method``'s model loads for the session's benches, once per load, before any of
    its cases runs (the memory it took is already recorded); not called for the models loaded
    beside it for ``--qb-interleave``'s rounds.

    :param model: the loaded model (a ``transformers`` causal LM).
    :param method: the method's name (``fp16``, ``nf4``, ...).
    :param settings: the session's ``quantbench.config.Settings``.
    :param config: the pytest config (options through ``config.getoption``).
    :return: a model that replaces this one for every case of the method, or ``None`` to keep it.
    """


@pytest.hookspec(firstresult=True)
def pytest_quantbench_engine_made(engine: Any, model: Any, mode: str, settings: Any,
                                  config: pytest.Config) -> Any:
    """After the runner builds the engine that measures ``model`` in ``mode``, before it runs:
    once per method and mode, and for each method of ``--qb-interleave``'s rounds.

    :param engine: the engine: quantbench's decode loop (``run.decode_loop.DecodeLoop``, the
        graph modes; its ``wrap_step`` wraps every decode step before capture) or ``HFEngine``
        (``generate``, the other modes).
    :param model: the model it runs.
    :param mode: the mode's name (``eager``, ``generate-compiled``, ``graph``, ...).
    :param settings: the session's ``quantbench.config.Settings``.
    :param config: the pytest config.
    :return: an engine that replaces this one, or ``None`` to keep it.
    """


@pytest.hookspec(firstresult=True)
def pytest_quantbench_work_pass(engine: Any, prompt: Any, new_tokens: int, step_ms: float,
                                device: str, config: pytest.Config) -> tuple[dict[str, Any], list[str]] | None:
    """The work pass of a generate case, after its timed rounds: kernel time, kernels, launches
    and Python calls per decode step (``run.work_pass.work_metrics``, quantbench's own
    implementation, which runs last). An implementation returns its own figures instead; a
    wrapper (``@pytest.hookimpl(wrapper=True)``) gets quantbench's, or the replacement's, from its
    ``yield`` and returns them changed (a note added, say).

    :param engine: the case's engine.
    :param prompt: the first prompt of the case's batch.
    :param new_tokens: the tokens a timed round generates.
    :param step_ms: the timed rounds' median milliseconds per decode step.
    :param device: ``cuda`` or ``cpu``.
    :param config: the pytest config.
    :return: ``(metrics by name, notes)``: the figures go into the case's metrics, the notes
        after its own.
    """
