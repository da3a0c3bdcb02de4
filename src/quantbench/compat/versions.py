"""The one check of an installed package's version against the versions a compat hook was read in.

A hook that leans on another package's internals names the versions it was checked against; where a
wrong version would not fail loudly but pack wrong bytes or schedule wrongly, the hook refuses it
with one line instead (``UnsupportedVersion``).
"""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version


class UnsupportedVersion(RuntimeError):
    """An installed package outside the versions a compat hook was checked with; the message is
    the one-line reason, with the install that fixes it."""


@functools.cache
def installed(dist: str) -> str | None:
    """The installed version of distribution ``dist`` (``None`` when it is not installed)."""
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def require(dist: str, supported: str, checked: str, why: str) -> str:
    """The installed version of ``dist``; raises ``UnsupportedVersion`` when it is missing or
    outside ``supported`` (a PEP 440 specifier). ``checked`` names the versions read, ``why``
    what quantbench relies on."""
    found = installed(dist)
    if found is None:
        raise UnsupportedVersion(f"{dist} is not installed; quantbench's {why} needs "
                                 f"'{dist}{supported}'")
    try:
        ok = SpecifierSet(supported).contains(Version(found), True)  # True: an rc or dev version counts
    except InvalidVersion:
        ok = False
    if not ok:
        raise UnsupportedVersion(f"{dist} {found} is not supported: quantbench's {why} was checked "
                                 f"on {checked}; pip install '{dist}{supported}'")
    return found
