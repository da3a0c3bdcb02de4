"""The versions ``compat`` checks: a package outside the versions a hook was read in is refused with
one line (the installed version is faked; nothing is installed or imported)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from quantbench import compat, methods
from quantbench.compat import versions
from quantbench.compat.autoawq import PACK_ORDER
from quantbench.plugin import workers


def _installed(monkeypatch: pytest.MonkeyPatch, **found: str | None) -> None:
    """Pretend each distribution (``pytest_xdist="4.0.0"``) is installed at that version."""
    table = {name.replace("_", "-"): v for name, v in found.items()}
    monkeypatch.setattr(versions, "installed", lambda dist: table[dist])


def test_a_version_inside_the_range_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(monkeypatch, pytest_xdist="3.8.0", autoawq="0.2.9")
    assert compat.check_xdist() == "3.8.0"
    assert compat.check_autoawq() == "0.2.9"
    assert compat.awq_pack_order() == PACK_ORDER == (0, 2, 4, 6, 1, 3, 5, 7)


def test_a_version_outside_the_range_is_one_line_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(monkeypatch, pytest_xdist="4.0.0", autoawq="0.2.10")
    with pytest.raises(compat.UnsupportedVersion) as xdist:
        compat.check_xdist()
    assert str(xdist.value) == ("pytest-xdist 4.0.0 is not supported: quantbench's method scheduling under -n "
                                "was checked on pytest-xdist 3.5 to 3.8; pip install 'pytest-xdist>=3.5,<4'")
    with pytest.raises(compat.UnsupportedVersion, match=r"^autoawq 0.2.10 is not supported: .* checked on "
                       r"autoawq 0.2.9; pip install 'autoawq>=0.2.9,<0.2.10'$"):
        compat.awq_pack_order()


def test_a_missing_or_unreadable_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(monkeypatch, pytest_xdist=None, autoawq="not-a-version")
    with pytest.raises(compat.UnsupportedVersion, match=r"^pytest-xdist is not installed; .*'pytest-xdist>=3.5,<4'$"):
        compat.xdist_worker_count(SimpleNamespace())
    with pytest.raises(compat.UnsupportedVersion, match=r"^autoawq not-a-version is not supported"):
        compat.check_autoawq()


def test_an_unsupported_autoawq_makes_awq_unavailable_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("awq")
    _installed(monkeypatch, autoawq="0.2.8")
    reason = methods.unavailable_reason("awq", "cpu")
    assert reason is not None and reason.startswith("awq: autoawq 0.2.8 is not supported: ")
    assert "\n" not in reason


def test_an_xdist_controller_refuses_an_unsupported_xdist_before_any_worker_starts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(monkeypatch, pytest_xdist="4.1.0")
    config = SimpleNamespace(getoption=lambda name, default=None: {"dist": "load"}.get(name, default))
    with pytest.raises(pytest.UsageError, match=r"^quantbench: pytest-xdist 4.1.0 is not supported: "):
        workers.configure_controller(config, None)  # type: ignore[arg-type]
