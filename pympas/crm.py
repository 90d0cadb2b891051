"""Circular Region Merging (CRM, MPASNet Sec. 2.2): the pseudo-mask is the union of discs of
radius r around the particles that collective merging kept.

:func:`rasterize_circles` paints discs around given centres (native kernels, CPU or CUDA);
:func:`crm_masks` is the CRM step of the pipeline: the kept particles of each frame -> masks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

import pympas._cuda_dispatch as _cuda_dispatch
import pympas._validate as _validate
from pympas._backend import native
from pympas.device import is_cuda

if TYPE_CHECKING:
    import torch

__all__ = ["RADIUS", "crm_masks", "rasterize_circles"]

#: the paper's CRM disc radius in pixels
RADIUS = 20.0


def rasterize_circles(
    centers: np.ndarray,
    offsets: np.ndarray | None,
    height: int,
    width: int,
    radius: float = RADIUS,
    *,
    device: str | torch.device = "cpu",
    out: torch.Tensor | None = None,
) -> np.ndarray:
    """Rasterize the union of discs of each frame into a mask (CRM pseudo-labels).

    Pixel (x, y), with integer coordinates and x the column, is set iff
    (x - cx)^2 + (y - cy)^2 <= radius^2 for some center (cx, cy) of that frame. Centers outside
    the image still paint the part of their disc inside it.

    Args:
        centers: (N, 2) disc centers (x, y), frames concatenated; |x|, |y| <= 1e150.
        offsets: (F+1,) integers, frame f holds rows ``offsets[f]:offsets[f+1]``; None = one frame.
        height: image height H > 0.
        width: image width W > 0.
        radius: disc radius 0 <= r <= 1e150 in pixels (the paper: 20).
        device: ``"cpu"`` (NumPy in and out) or ``"cuda"``/``"cuda:N"``/a ``torch.device``:
            NumPy arrays or torch tensors in, a torch CUDA tensor out, bit-identical masks.
        out: CUDA devices only: a contiguous (F, H, W) uint8 or bool torch tensor on that
            device to write into (every pixel is written, it need not be zeroed).

    Returns:
        (F, H, W) bool masks (``out`` when given).

    Example:
        >>> m = rasterize_circles(np.array([[2.0, 2.0]]), None, 5, 5, radius=1)
        >>> int(m[0].sum())
        5
    """
    if is_cuda(device):
        return _cuda_dispatch.rasterize_circles(
            centers, offsets, height, width, radius, device, out=out
        )
    if out is not None:
        raise ValueError("out is only supported with a CUDA device")
    centers = _validate.coordinates("centers", centers)
    n = centers.shape[0]
    offsets = _validate.offsets("offsets", [0, n] if offsets is None else offsets, n)
    height = _validate.integer("height", height, 1)
    width = _validate.integer("width", width, 1)
    radius = _validate.length("radius", radius)
    return native().rasterize_circles(centers, offsets, height, width, radius)


def crm_masks(
    points: np.ndarray,
    keep: np.ndarray,
    offsets: np.ndarray,
    height: int,
    width: int,
    radius: float = RADIUS,
    *,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """CRM pseudo-masks of a ragged batch of frames: discs of ``radius`` around kept particles.

    Args:
        points: (N, 2) particle positions (x, y), frames concatenated.
        keep: (N,) bool, the particles collective merging kept (``Collectiveness.keep``).
        offsets: (F+1,) frame f holds rows ``offsets[f]:offsets[f+1]``.
        height, width: mask size H, W.
        radius: disc radius in pixels (the paper: 20).
        device: where the discs are painted (see :func:`rasterize_circles`); the masks are
            returned as NumPy either way.

    Returns:
        (F, H, W) bool masks.

    Example:
        >>> pts = np.array([[2.0, 2.0], [9.0, 9.0]])
        >>> int(crm_masks(pts, np.array([True, False]), np.array([0, 2]), 5, 5, 1)[0].sum())
        5
    """
    keep = np.asarray(keep, dtype=bool)
    offsets = np.asarray(offsets, dtype=np.int64)
    kept_offsets = np.searchsorted(np.flatnonzero(keep), offsets).astype(np.int64)
    masks = rasterize_circles(
        np.asarray(points)[keep], kept_offsets, height, width, radius, device=device
    )
    return masks if isinstance(masks, np.ndarray) else masks.cpu().numpy()
