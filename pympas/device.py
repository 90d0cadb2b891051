"""The ``device=`` argument of every pympas function and command: one spelling, one resolver.

A device is ``"auto"`` (a CUDA GPU when one can be used, else the CPU), ``"cpu"``, ``"cuda"``
(torch's current CUDA device), ``"cuda:N"`` or a ``torch.device``. :func:`resolve_device` turns
any of them into ``"cpu"`` or ``"cuda"``/``"cuda:N"``; :func:`parse_device` is the torch-free
parser beneath it. Deciding ``"auto"`` never imports torch on a machine without a GPU: the CUDA
extension's own device count is asked first. :func:`onnx_providers` maps a device to ONNX
Runtime's execution providers (for exported models), without torch.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "DEVICE_HELP",
    "is_cuda",
    "onnx_providers",
    "parse_device",
    "resolve_device",
    "torch_device",
]

#: Help text of the ``--device`` option of every command.
DEVICE_HELP = "auto (default: a CUDA GPU when one can be used, else the CPU), cpu, cuda, cuda:N"

_CUDA_RE = re.compile(r"cuda(?::(\d+))?")


def parse_device(device: Any, *, allow_auto: bool = False) -> str:
    """Normalise a device spec to ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (no torch).

    Raises:
        TypeError: ``device`` is neither a string nor a ``torch.device``.
        ValueError: an unknown device, or ``"auto"`` where ``allow_auto`` is False.
    """
    if isinstance(device, str):
        text = device.strip().lower()
    elif type(device).__module__.split(".")[0] == "torch" and hasattr(device, "type"):
        text = str(device)  # torch.device: "cpu", "cuda" or "cuda:N"
    else:
        raise TypeError(
            "device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, "
            f"got {type(device).__name__}"
        )
    if text == "auto" and allow_auto:
        return text
    if text == "cpu" or _CUDA_RE.fullmatch(text):
        return text
    allowed = "'auto', 'cpu'" if allow_auto else "'cpu'"
    raise ValueError(f"device must be {allowed}, 'cuda' or 'cuda:N', got {device!r}")


def is_cuda(device: Any) -> bool:
    """True for a CUDA spec (``"cuda"``, ``"cuda:N"``, a CUDA ``torch.device``), False for the
    CPU; ``"auto"`` is resolved first."""
    return resolve_device(device) != "cpu"


def cuda_index(device: str) -> int | None:
    """The N of ``"cuda:N"``; None for ``"cuda"`` (torch's current device)."""
    match = _CUDA_RE.fullmatch(device)
    if match is None:
        raise ValueError(f"not a CUDA device: {device!r}")
    return None if match.group(1) is None else int(match.group(1))


def _cuda_usable() -> bool:
    """A CUDA GPU that pympas can use: the CUDA extension sees a device and torch sees one."""
    try:
        from pympas import _cuda
    except ImportError:
        return False
    if _cuda.device_count() == 0:
        return False  # no driver or no GPU: decided without importing torch
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(device: Any = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU can be used, else ``"cpu"``; other specs normalised.

    Example:
        >>> resolve_device("CPU")
        'cpu'
        >>> resolve_device("cuda:1")
        'cuda:1'
    """
    text = parse_device(device, allow_auto=True)
    if text == "auto":
        return "cuda" if _cuda_usable() else "cpu"
    return text


def torch_device(device: Any = "auto") -> Any:
    """:func:`resolve_device` as a ``torch.device``; ValueError naming ``device`` if a CUDA
    device was asked for and torch cannot use one."""
    import torch

    text = resolve_device(device)
    if text != "cpu" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was asked for, but CUDA is not available to torch "
            "(torch.cuda.is_available() is False); use 'cpu' or 'auto'"
        )
    return torch.device(text)


def onnx_providers(device: Any, available: list[str]) -> list[Any]:
    """ONNX Runtime execution providers for ``device``, given the ``available`` ones
    (``onnxruntime.get_available_providers()``): ``"cpu"`` the CPU provider, ``"cuda"`` /
    ``"cuda:N"`` the CUDA provider (device N) with the CPU one behind it, ``"auto"`` the CUDA
    provider where this onnxruntime has one, else the CPU. No torch is imported.

    Raises:
        ValueError: a CUDA device asked for, but this onnxruntime has no CUDA provider.
    """
    text = parse_device(device, allow_auto=True)
    cpu = "CPUExecutionProvider"
    has_cuda = "CUDAExecutionProvider" in available
    if text == "cpu" or (text == "auto" and not has_cuda):
        return [cpu]
    if not has_cuda:
        raise ValueError(
            f"device {device!r} was asked for, but this onnxruntime has no CUDA execution "
            f"provider (it has {', '.join(available)}); install onnxruntime-gpu, or use 'cpu'"
        )
    index = 0 if text == "auto" else (cuda_index(text) or 0)
    return [("CUDAExecutionProvider", {"device_id": index}), cpu]
