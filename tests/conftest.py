"""Fixtures shared by the tests; the plain helpers they import live beside it (``session_runs``:
real ``pytest benches`` sessions in a subprocess; ``fakes``: stand-ins such as pytest's config).

Only fixtures here: pytest finds them without an import, where an import of a test module (the
``from test_sessions import cache_dir, work  # noqa`` of before) made one test file another's
fixture library. conftest.py itself is never imported by name: this repository has two (this
one and the root's), and both would be the module ``conftest``.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the module: the synthetic checkpoint (and AWQ's) is built once."""
    return tmp_path_factory.mktemp("qb-cache")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("qb-sessions")

