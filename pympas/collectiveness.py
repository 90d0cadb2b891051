"""Crowd collectiveness (Zhou et al.; MPASNet Sec. 2.2): individual collectiveness phi (Eq. 5),
the link graph Z[i, j] > 0.6 kappa and collective merging into clusters.

Notation: per frame, W[i, j] = max(C(i, j), 0) for j among the K nearest neighbours of i (Eq. 1),
Z = sum_{L>=1} z^L W^L = (I - zW)^-1 - I (Eqs. 3-4), phi_i = sum_j Z[i, j] (Eq. 5),
kappa = z / (1 - zK) bounds every entry of Z. The native kernels never form a dense N x N matrix:
phi comes from a sparse solve and every link decision from an exact sparse factorisation
(see ``csrc/cpu/selected_inverse_cpu.cpp``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

import pympas._cuda_dispatch as _cuda_dispatch
import pympas._validate as _validate
from pympas._backend import native
from pympas.device import is_cuda
from pympas.knn import K

if TYPE_CHECKING:
    import torch

__all__ = [
    "MIN_CLUSTER_SIZE",
    "Collectiveness",
    "CollectivenessBatch",
    "collectiveness",
    "collectiveness_batch",
    "individual_collectiveness",
    "link_threshold",
]


#: clusters smaller than this are outliers (the paper: 10)
MIN_CLUSTER_SIZE = 10


def link_threshold(k: int, z: float | None = None) -> float:
    """The link threshold 0.6 kappa with kappa = z / (1 - zK), the bound on entries of Z.

    Defined once, in the native kernels (``csrc/cpu/collectiveness_cpu.h``), which decide the
    links with it. ``z=None`` means 1/(2K) as in the paper.

    Example:
        >>> round(link_threshold(20), 6)  # z = 1/40: 0.6 * (1/40) / (1 - 1/2)
        0.03
    """
    k = _validate.integer("k", k, 1)
    return float(native().link_threshold(k, _validate.coupling(z, k)))


@dataclass(frozen=True)
class Collectiveness:
    """Collectiveness of the particles of one frame.

    Attributes:
        phi: (N,) float64 individual collectiveness, Eq. 5.
        edges: (E, 2) int64, every (i, j), i != j, with Z[i, j] > threshold, sorted by (i, j).
        clusters: (N,) int64 collective-merging label, 0 = outlier, 1..C numbered by smallest
            member.
        threshold: 0.6 kappa.
    """

    phi: np.ndarray
    edges: np.ndarray
    clusters: np.ndarray
    threshold: float

    @property
    def keep(self) -> np.ndarray:
        """(N,) bool, particles in a cluster of at least ``min_cluster_size`` (clusters > 0)."""
        return self.clusters > 0


@dataclass(frozen=True)
class CollectivenessBatch(Collectiveness):
    """Collectiveness of a ragged batch of frames: the fields of :class:`Collectiveness`
    concatenated over frames, plus ``offsets`` (F+1,).

    ``edges`` hold global row indices; cluster labels are unique across the batch (the clusters
    of frame f are numbered after those of frames 0..f-1). :meth:`frame` gives one frame back
    with local indices and labels 1..C.
    """

    offsets: np.ndarray = None  # type: ignore[assignment]

    @property
    def num_frames(self) -> int:
        return len(self.offsets) - 1

    def frame(self, f: int) -> Collectiveness:
        """The result of frame ``f`` alone, as :func:`collectiveness` would return it."""
        if not -self.num_frames <= f < self.num_frames:
            raise IndexError(f"frame {f} out of range for a batch of {self.num_frames} frames")
        f %= self.num_frames
        lo, hi = int(self.offsets[f]), int(self.offsets[f + 1])
        row = self.edges[:, 0]
        edges = self.edges[(row >= lo) & (row < hi)] - lo
        clusters = self.clusters[lo:hi] * 1  # a copy, for NumPy arrays and torch tensors alike
        if (clusters > 0).any():
            clusters[clusters > 0] -= clusters[clusters > 0].min() - 1
        return Collectiveness(self.phi[lo:hi], edges, clusters, self.threshold)


def _check(points, velocities, offsets, k, z, min_cluster_size):
    points = _validate.coordinates("points", points)
    velocities = _validate.coordinates("velocities", velocities, n=points.shape[0])
    n = points.shape[0]
    offsets = _validate.offsets("offsets", [0, n] if offsets is None else offsets, n)
    k = _validate.integer("k", k, 1)
    z = _validate.coupling(z, k)
    min_cluster_size = _validate.integer("min_cluster_size", min_cluster_size, 1)
    return points, velocities, offsets, k, z, min_cluster_size


def collectiveness_batch(
    points: np.ndarray,
    velocities: np.ndarray,
    offsets: np.ndarray,
    k: int = K,
    z: float | None = None,
    clamp_negative: bool = True,
    min_cluster_size: int = MIN_CLUSTER_SIZE,
    *,
    device: str | torch.device = "cpu",
) -> CollectivenessBatch:
    """Collectiveness of every frame of a ragged batch (frames run in parallel).

    Args:
        points: (N, 2) particle positions (x, y), frames concatenated; |x|, |y| <= 1e150.
        velocities: (N, 2) particle velocities; components within +-1e150.
        offsets: (F+1,) integers, frame f holds rows ``offsets[f]:offsets[f+1]``.
        k: neighbours per particle, K >= 1 (the paper: 20).
        z: walk coupling in (0, 1/K); ``None`` means 1/(2K) as in the paper.
        clamp_negative: Eq. 1's max(C, 0); False keeps negative correlations as the authors'
            original code does (True or False; anything else is a TypeError).
        min_cluster_size: clusters smaller than this are outliers (label 0).
        device: ``"cpu"`` (NumPy in and out) or ``"cuda"``/``"cuda:N"``/a ``torch.device``
            (K <= 64): NumPy arrays or torch tensors in, torch CUDA tensors out. On CUDA, KNN,
            correlations and phi run on the GPU (Jacobi sweeps, within 1e-15 relative of the
            exact phi); the exact link decisions and the clusters run on the CPU kernel on
            host copies of the inputs, overlapping the GPU work.

    Returns:
        A :class:`CollectivenessBatch` with phi (N,), edges (E, 2), clusters (N,), keep (N,),
        threshold and offsets (F+1,).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> pts = rng.uniform(0, 100, (60, 2)); vel = np.tile([1.0, 0.0], (60, 1))
        >>> res = collectiveness_batch(pts, vel, [0, 30, 60], k=5)
        >>> res.phi.shape, bool(res.keep.all())
        ((60,), True)
    """
    if is_cuda(device):
        phi, edges, clusters, offsets, threshold = _cuda_dispatch.collectiveness_batch(
            points, velocities, offsets, k, z, clamp_negative, min_cluster_size, device
        )
        return CollectivenessBatch(phi, edges, clusters, threshold, offsets)
    points, velocities, offsets, k, z, min_cluster_size = _check(
        points, velocities, offsets, k, z, min_cluster_size
    )
    clamp_negative = _validate.flag("clamp_negative", clamp_negative)
    phi, edges, clusters = native().collectiveness(
        points, velocities, offsets, k, z, clamp_negative, min_cluster_size
    )
    return CollectivenessBatch(phi, edges, clusters, link_threshold(k, z), offsets)


def collectiveness(
    points: np.ndarray,
    velocities: np.ndarray,
    k: int = K,
    z: float | None = None,
    clamp_negative: bool = True,
    min_cluster_size: int = MIN_CLUSTER_SIZE,
) -> Collectiveness:
    """Collectiveness of the particles of one frame; see :func:`collectiveness_batch`.

    Args:
        points: (N, 2) positions (x, y).
        velocities: (N, 2) velocities.

    Returns:
        :class:`Collectiveness` with phi (N,), edges (E, 2), clusters (N,), keep (N,), threshold.
    """
    res = collectiveness_batch(points, velocities, None, k, z, clamp_negative, min_cluster_size)
    return Collectiveness(res.phi, res.edges, res.clusters, res.threshold)


def individual_collectiveness(
    points: np.ndarray,
    velocities: np.ndarray,
    offsets: np.ndarray | None = None,
    k: int = K,
    z: float | None = None,
    clamp_negative: bool = True,
    *,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """phi alone (Eq. 5), without the link graph: a sparse iterative solve of (I - zW) x = 1.

    Args:
        points: (N, 2) positions; velocities: (N, 2); offsets: (F+1,) or None for one frame.
        device: ``"cpu"`` or a CUDA device (see :func:`collectiveness_batch`): there phi is
            computed entirely on the GPU and returned as a torch CUDA tensor.

    Returns:
        (N,) float64 phi, the row sums of ``(I - zW)^-1 - I``; the Neumann iteration stops once
        its error is certified below 1e-15 max(1, max |phi|) (a sparse LU solve takes over when
        zK is close to 1).
    """
    if is_cuda(device):
        return _cuda_dispatch.individual_collectiveness(
            points, velocities, offsets, k, z, clamp_negative, device
        )
    points, velocities, offsets, k, z, _ = _check(points, velocities, offsets, k, z, 1)
    clamp_negative = _validate.flag("clamp_negative", clamp_negative)
    return native().individual_collectiveness(points, velocities, offsets, k, z, clamp_negative)
