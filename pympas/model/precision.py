"""Numeric precision of training and inference: bf16 autocast + channels_last, or fp32.

``amp="auto"`` (the default everywhere) picks bf16 autocast with channels_last memory format
wherever the device computes bf16 natively: a CUDA device that reports bf16 support, or a CPU
for which oneDNN reports bf16 support (AVX512-BF16 or AMX; on such a CPU a w18-small training
step runs about 2x faster and inference about 2.8x). Elsewhere it is plain fp32 (bf16 would be
emulated there and slower than fp32). ``amp=True`` / ``"bf16"`` forces bf16, ``amp=False`` /
``"fp32"`` forces fp32; ``None`` means ``"auto"`` (the older spelling).

Autocast keeps the weights, the optimizer state, the losses (computed in fp32, see
:mod:`pympas.model.losses`) and BatchNorm statistics in fp32; only convolutions and their
activations run in bf16.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from pympas.config import AMP_CHOICES

__all__ = [
    "AMP_CHOICES",
    "autocast",
    "bf16_supported",
    "memory_format",
    "precision_name",
    "resolve_amp",
]


def cpu_bf16_supported() -> bool:
    """Whether oneDNN (mkldnn) on this CPU computes bf16 natively (AVX512-BF16 / AMX)."""
    if not torch.backends.mkldnn.is_available():
        return False
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)  # private in torch 2.x
    if probe is None:
        return False
    try:
        return bool(probe())
    except (RuntimeError, AttributeError):
        return False


def bf16_supported(device: str | torch.device) -> bool:
    """Whether ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...) runs bf16 natively."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_bf16_supported()
    return False


def resolve_amp(amp: Any, device: str | torch.device) -> bool:
    """``amp`` setting -> True (bf16 autocast + channels_last) or False (fp32) on ``device``.

    Accepts ``"auto"``/``None`` (bf16 where :func:`bf16_supported`), ``True``/``"bf16"`` and
    ``False``/``"fp32"``; anything else is a ValueError.
    """
    if amp is None or amp == "auto":
        return bf16_supported(device)
    if isinstance(amp, bool):
        return amp
    if amp == "bf16":
        return True
    if amp == "fp32":
        return False
    raise ValueError(f"amp must be 'auto', 'bf16', 'fp32', True, False or None, got {amp!r}")


def precision_name(enabled: bool) -> str:
    """``"bf16"`` or ``"fp32"``, the name recorded in a run's config.json."""
    return "bf16" if enabled else "fp32"


def autocast(device: str | torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` when ``enabled``, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def memory_format(enabled: bool) -> torch.memory_format:
    """channels_last with bf16 (oneDNN and cuDNN's fast bf16 kernels want NHWC), else NCHW."""
    return torch.channels_last if enabled else torch.contiguous_format
