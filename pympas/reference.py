"""NumPy reference implementation: the readable specification of the native kernels.

Everything here is dense and literal (Eqs. 1-5 of the MPASNet paper, after Zhou et al.,
"Measuring Crowd Collectiveness"), deliberately slow, and used by the tests to check the
C++ and CUDA kernels. Conventions follow the authors' code:

* neighbours are the K nearest *other* particles by Euclidean distance, ties broken by the lower
  index (a stable sort); a frame of n <= K particles gives n - 1 neighbours, padded with -1;
* the velocity correlation C(i, j) is the cosine of the two velocities with each norm clamped
  below at machine epsilon, so a zero velocity correlates 0 with everything;
* W[i, j] = max(C(i, j), 0) (Eq. 1) for j among i's neighbours, or C(i, j) itself with
  ``clamp_negative=False`` (the authors' original code); W is not symmetric.

Floating-point operations are written in the same order as the native code (no BLAS, no FMA),
so distances, correlations and disc tests agree bit for bit.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from pympas.collectiveness import link_threshold

EPS = float(np.finfo(np.float64).eps)


def knn_correlation(
    points: np.ndarray, velocities: np.ndarray, offsets: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """K nearest neighbours per frame and the velocity correlation to each of them.

    Args:
        points: (N, 2) float64 positions (x, y).
        velocities: (N, 2) float64 velocities.
        offsets: (F+1,) int64, frame f holds rows ``offsets[f]:offsets[f+1]``.
        k: number of neighbours K >= 1.

    Returns:
        neighbors: (N, K) int64 global row indices, -1 where a frame has too few points.
        corr: (N, K) float64 cosine C(i, neighbors[i, m]), 0 where padded.
    """
    n = points.shape[0]
    neighbors = np.full((n, k), -1, dtype=np.int64)
    corr = np.zeros((n, k), dtype=np.float64)
    unit = unit_velocities(velocities)
    for f in range(len(offsets) - 1):
        lo, hi = int(offsets[f]), int(offsets[f + 1])
        m = hi - lo
        if m <= 1:
            continue
        p = points[lo:hi]
        dx = p[:, None, 0] - p[None, :, 0]
        dy = p[:, None, 1] - p[None, :, 1]
        d2 = dx * dx + dy * dy
        np.fill_diagonal(d2, np.inf)  # never self
        take = min(k, m - 1)
        order = np.argsort(d2, axis=1, kind="stable")[:, :take]  # ties by lower index
        neighbors[lo:hi, :take] = order + lo
        u = unit[lo:hi]
        corr[lo:hi, :take] = u[:, None, 0] * u[order, 0] + u[:, None, 1] * u[order, 1]
    return neighbors, corr


def unit_velocities(velocities: np.ndarray) -> np.ndarray:
    """(N, 2) velocities divided by their norms, each norm clamped below at machine epsilon."""
    vx, vy = velocities[:, 0], velocities[:, 1]
    norm = np.maximum(np.sqrt(vx * vx + vy * vy), EPS)
    return np.stack([vx / norm, vy / norm], axis=1)


def weight_matrix(
    neighbors: np.ndarray, corr: np.ndarray, clamp_negative: bool = True
) -> np.ndarray:
    """Dense (n, n) W of one frame (Eq. 1) from frame-local neighbours (n, K) and correlations."""
    n = neighbors.shape[0]
    w = np.zeros((n, n), dtype=np.float64)
    rows, cols = np.nonzero(neighbors >= 0)
    vals = corr[rows, cols]
    if clamp_negative:
        vals = np.maximum(vals, 0.0)
    w[rows, neighbors[rows, cols]] = vals
    return w


def path_similarity(w: np.ndarray, z: float) -> np.ndarray:
    """Z = sum_{L>=1} z^L W^L = (I - zW)^-1 - I (Eqs. 3-4), as a dense inverse."""
    n = w.shape[0]
    eye = np.eye(n)
    return np.linalg.inv(eye - z * w) - eye


def collectiveness_frame(
    points: np.ndarray,
    velocities: np.ndarray,
    k: int = 20,
    z: float | None = None,
    clamp_negative: bool = True,
    min_cluster_size: int = 10,
) -> dict[str, np.ndarray | float]:
    """Collectiveness of one frame, literally: returns phi, edges, clusters, threshold, z_matrix.

    phi (n,) is Eq. 5 (row sums of Z); edges (E, 2) every (i, j), i != j, with
    Z[i, j] > 0.6 kappa, kappa = z / (1 - zK), in row-major order; clusters (n,) the collective
    merging labels: connected components of the link graph (either direction), numbered 1..C by
    their smallest member, components of fewer than ``min_cluster_size`` particles labelled 0.
    """
    n = points.shape[0]
    z = 1.0 / (2.0 * k) if z is None else float(z)
    threshold = link_threshold(k, z)  # 0.6 kappa
    nbr, corr = knn_correlation(points, velocities, np.array([0, n]), k)
    w = weight_matrix(nbr, corr, clamp_negative)
    big_z = path_similarity(w, z)
    phi = big_z.sum(axis=1)  # Eq. 5
    link = big_z > threshold
    np.fill_diagonal(link, False)
    edges = np.argwhere(link).astype(np.int64).reshape(-1, 2)
    clusters = collective_merging(n, edges, min_cluster_size)
    return {
        "phi": phi,
        "edges": edges,
        "clusters": clusters,
        "threshold": threshold,
        "z_matrix": big_z,
    }


def collective_merging(n: int, edges: np.ndarray, min_cluster_size: int) -> np.ndarray:
    """Cluster labels (n,) int64 from links: components numbered by smallest member, small 0."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=True, connection="weak")
    sizes = np.bincount(comp)
    labels = np.zeros(n, dtype=np.int64)
    next_label = 1
    mapping: dict[int, int] = {}
    for i in range(n):  # number components in the order of their smallest member
        c = int(comp[i])
        if sizes[c] < min_cluster_size:
            continue
        if c not in mapping:
            mapping[c] = next_label
            next_label += 1
        labels[i] = mapping[c]
    return labels


def collectiveness_batch(
    points: np.ndarray,
    velocities: np.ndarray,
    offsets: np.ndarray,
    k: int = 20,
    z: float | None = None,
    clamp_negative: bool = True,
    min_cluster_size: int = 10,
) -> dict[str, np.ndarray | float]:
    """Frame-by-frame :func:`collectiveness_frame`, concatenated.

    Edges use global row indices; cluster labels are made unique across the batch by numbering
    the clusters of frame f after those of frames 0..f-1.
    """
    z = 1.0 / (2.0 * k) if z is None else float(z)
    threshold = link_threshold(k, z)  # 0.6 kappa
    phis, edges, clusters = [], [], []
    base = 0
    for f in range(len(offsets) - 1):
        lo, hi = int(offsets[f]), int(offsets[f + 1])
        res = collectiveness_frame(
            points[lo:hi], velocities[lo:hi], k, z, clamp_negative, min_cluster_size
        )
        phis.append(res["phi"])
        edges.append(res["edges"] + lo)
        c = res["clusters"].copy()
        c[c > 0] += base
        base = max(base, int(c.max(initial=0)))
        clusters.append(c)
    return {
        "phi": np.concatenate(phis) if phis else np.zeros(0),
        "edges": np.concatenate(edges).reshape(-1, 2) if edges else np.zeros((0, 2), np.int64),
        "clusters": np.concatenate(clusters) if clusters else np.zeros(0, np.int64),
        "threshold": threshold,
    }


def rasterize_circles(
    centers: np.ndarray, offsets: np.ndarray, height: int, width: int, radius: float = 20
) -> np.ndarray:
    """Circular Region Merging: (F, H, W) bool, pixel (x, y) set iff
    (x - cx)^2 + (y - cy)^2 <= r^2 for some center of that frame (x = column, y = row)."""
    n_frames = len(offsets) - 1
    masks = np.zeros((n_frames, height, width), dtype=bool)
    r = float(radius)
    r2 = r * r
    for f in range(n_frames):
        for cx, cy in centers[int(offsets[f]) : int(offsets[f + 1])]:
            x0, x1 = max(0, int(np.floor(cx - r))), min(width - 1, int(np.ceil(cx + r)))
            y0, y1 = max(0, int(np.floor(cy - r))), min(height - 1, int(np.ceil(cy + r)))
            if x0 > x1 or y0 > y1:
                continue
            xs = np.arange(x0, x1 + 1, dtype=np.float64)
            ys = np.arange(y0, y1 + 1, dtype=np.float64)
            dx = xs[None, :] - cx
            dy = ys[:, None] - cy
            masks[f, y0 : y1 + 1, x0 : x1 + 1] |= dx * dx + dy * dy <= r2
    return masks
