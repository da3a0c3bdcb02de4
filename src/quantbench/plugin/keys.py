"""The pytest stash keys the plugin's modules share: the session's settings and its bench helper.

They live here, below ``fixtures`` and ``workers``, so that both read them without importing each other.
"""

from __future__ import annotations

import pytest

from quantbench.config import Settings

SETTINGS = pytest.StashKey[Settings]()
BENCH = pytest.StashKey["Bench"]()  # a plugin.fixtures.Bench, built on first use
