"""The devices the kernel tests run on: ``"cpu"`` always, ``"cuda"`` where a GPU is usable."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pytest


@cache
def cuda_unavailable_reason() -> str | None:
    """Why ``device="cuda"`` cannot run here, or None when it can. Imports torch on first call."""
    try:
        import torch
    except ImportError:
        return "needs a CUDA device: torch is not installed"
    try:
        from pympas import _cuda
    except ImportError:
        return "needs a CUDA device: pympas._cuda is missing (pympas was built without nvcc)"
    if not torch.cuda.is_available():
        return "needs a CUDA device: torch.cuda.is_available() is False"
    if _cuda.device_count() == 0:
        return f"needs a CUDA device: pympas._cuda sees none ({_cuda.driver_status()})"
    return None


# Parameters of the ``device`` fixture (tests/conftest.py). The cuda one carries the ``cuda``
# mark, so ``pytest -m cuda`` selects it; it is skipped at set-up (naming the reason) without a
# usable GPU, so collecting the tests never imports torch.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda, id="cuda")]


def to_numpy(value: Any) -> np.ndarray:
    """A NumPy array of a kernel's result: torch tensors (CUDA or CPU) are copied to the host."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    return np.asarray(value)
