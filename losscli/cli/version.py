"""``losscli --version``: losscli's and its main libraries' versions, read without importing them."""

from __future__ import annotations

import os
import sys

from losscli import __version__


def version_line() -> str:
    """``losscli X (Python Y; numpy ..., pyarrow ..., click ..., rich ...)``."""
    parts = []
    for package in ("numpy", "pyarrow", "click", "rich"):
        found = installed_version(package)
        parts.append(f"{package} {found or 'missing'}")
    return f"losscli {__version__} (Python {sys.version.split()[0]}; {', '.join(parts)})"


def installed_version(package: str) -> str | None:
    """The installed version of ``package``, from its wheel's ``NAME-VERSION.dist-info``
    folder name; ``importlib.metadata`` (which costs ~50 ms) only if there is none."""
    prefix = package + "-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith(prefix) and name.endswith(".dist-info"):
                return name[len(prefix) : -len(".dist-info")]
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None
