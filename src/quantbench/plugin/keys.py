"""The pytest stash keys the plugin's modules share: the session's settings, bench helper, session
object, start.

They live here, below ``fixtures`` and ``workers``, so that both read them without importing each other.
"""

from __future__ import annotations

import pytest

from quantbench.config import Settings

SETTINGS = pytest.StashKey[Settings]()
BENCH = pytest.StashKey["Bench"]()  # a plugin.fixtures.Bench, built on first use
SESSION = pytest.StashKey["QuantbenchSession"]()  # plugin.session's, stashed at configure
BEGUN = pytest.StashKey[float]()  # time.perf_counter() at the plugin's pytest_configure
