"""Batched K-nearest-neighbour velocity correlation (the input of Eq. 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

import pympas._cuda_dispatch as _cuda_dispatch
import pympas._validate as _validate
from pympas._backend import native
from pympas.device import is_cuda

if TYPE_CHECKING:
    import torch

__all__ = ["K", "knn_correlation"]

#: the paper's number of nearest neighbours K
K = 20


def knn_correlation(
    points: np.ndarray,
    velocities: np.ndarray,
    offsets: np.ndarray | None = None,
    k: int = K,
    *,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """K nearest other particles of each particle in its frame, and their velocity correlation.

    Args:
        points: (N, 2) positions (x, y) of the particles of all frames, concatenated;
            |x|, |y| <= 1e150 so that squared distances stay finite.
        velocities: (N, 2) velocities, same order, components within +-1e150.
        offsets: (F+1,) integers, frame f holds rows ``offsets[f]:offsets[f+1]``;
            ``None`` means one frame.
        k: number of neighbours K >= 1 (K <= 64 on CUDA devices).
        device: ``"cpu"`` (NumPy in and out) or ``"cuda"``/``"cuda:N"``/a ``torch.device``:
            NumPy arrays or torch tensors in, torch CUDA tensors out, bit-identical results
            (see :mod:`pympas._cuda_dispatch`).

    Returns:
        neighbors: (N, K) int64 global row indices; never the particle itself; ties in distance go
            to the lower index; -1 padding where a frame has K or fewer particles.
        corr: (N, K) float64 cosine of the two velocities (norms clamped below at machine
            epsilon, so a zero velocity gives 0); 0 where padded.

    Example:
        >>> pts = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]])
        >>> vel = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
        >>> nbr, c = knn_correlation(pts, vel, k=1)
        >>> nbr[:, 0].tolist()
        [1, 0, 1]
    """
    if is_cuda(device):
        return _cuda_dispatch.knn_correlation(points, velocities, offsets, k, device)
    points = _validate.coordinates("points", points)
    velocities = _validate.coordinates("velocities", velocities, n=points.shape[0])
    n = points.shape[0]
    offsets = _validate.offsets("offsets", [0, n] if offsets is None else offsets, n)
    k = _validate.integer("k", k, 1)
    return native().knn_correlation(points, velocities, offsets, k)
