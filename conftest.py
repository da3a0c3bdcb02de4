"""quantbench's fixtures: the session harness and each method's model, loaded once.

The hooks (options, parametrisation, ordering, the end-of-session gate) live in
``quantbench.plugin``; this file only provides what the benches ask for.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

pytest_plugins = ["quantbench.plugin"]


@pytest.fixture(scope="session")
def harness(pytestconfig: pytest.Config) -> Any:
    """The session's measuring machinery (model source, pool, clock, memory, roofline)."""
    from quantbench.plugin import session_harness

    return session_harness(pytestconfig)


@pytest.fixture(scope="session")
def loaded_model(request: pytest.FixtureRequest, harness: Any) -> Iterator[Any]:
    """One method's model, loaded once per session and freed before the next method loads.

    A method that cannot run here is skipped with the reason; one that fails to load (CUDA
    out-of-memory included) errors its own benches with the reason, and the others still run.
    """
    from quantbench.harness import Unavailable
    from quantbench.methods import LoadError

    try:
        loaded = harness.model(request.param)
    except Unavailable as exc:
        pytest.skip(str(exc))
    except LoadError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield loaded
    del loaded
    harness.release()
