"""A tiny untrained checkpoint for the tests that segment (``pympas segment``)."""

from __future__ import annotations

from pathlib import Path

import pytest


def tiny_checkpoint(path: Path) -> Path:
    """An untrained w18-small MPASNet checkpoint at ``path`` (the test is skipped without
    torch)."""
    torch = pytest.importorskip("torch")
    from pympas._version import __version__
    from pympas.model import MPASNet

    state = {"model": MPASNet("w18-small").state_dict(), "optimizer": {}, "step": 0,
             "config": {"arch": "w18-small"}, "pympas_version": __version__}  # fmt: skip
    torch.save(state, path)
    return path
