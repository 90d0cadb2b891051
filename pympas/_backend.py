"""Loads the compiled extensions on first use, with an actionable error when they are missing."""

from __future__ import annotations

import functools
from types import ModuleType


@functools.cache
def native() -> ModuleType:
    """The CPU extension ``pympas._native``."""
    try:
        from pympas import _native
    except ImportError as exc:  # pragma: no cover - only in a broken install
        raise ImportError(
            "pympas._native is not built; install the package with `pip install .` "
            "(a C++17 compiler is needed)"
        ) from exc
    return _native
