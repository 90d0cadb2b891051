"""Hypothesis strategies of the kernels' property tests (tests/test_native_matches_reference.py).

Inputs are drawn from a seed plus structural choices made by hypothesis: ragged batches with
empty, one-particle and tiny frames, integer coordinates (many exact distance ties), duplicated
positions, zero velocities, K from 1 to 64 and z up to 0.99 / K; discs with centres on exact pixel
boundaries, inside and outside the image.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, event
from hypothesis import strategies as st

# Settings shared by the property tests: no deadline, no health check for slow draws.
SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


@st.composite
def crowds(draw, max_frames: int = 4, max_points: int = 120):
    """(points (N, 2), velocities (N, 2), offsets (F+1,), k) of a random ragged batch."""
    n_frames = draw(st.integers(0, max_frames))
    classes = draw(
        st.lists(st.sampled_from(["tiny", "small", "large"]), min_size=n_frames, max_size=n_frames)
    )
    k = draw(st.one_of(st.integers(1, 8), st.sampled_from([20, 64]), st.integers(1, 64)))
    coords = draw(
        st.sampled_from(
            ["integer", "float", "duplicates", "line", "offset", "tiny", "clustered", "elongated"]
        )
    )
    zero_velocity = draw(st.sampled_from([0.0, 0.1, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ranges = {"tiny": (0, 3), "small": (4, 30), "large": (max_points // 3, max_points)}
    sizes = [int(rng.integers(ranges[c][0], ranges[c][1] + 1)) for c in classes]
    n = sum(sizes)
    if coords == "integer":  # a small lattice: many exactly equal distances
        span = max(2, int(np.sqrt(n)) // 2)
        points = rng.integers(0, span, (n, 2)).astype(np.float64)
    elif coords == "float":
        points = rng.uniform(-50, 50, (n, 2)) * 10.0 ** rng.integers(-3, 4)
    elif coords == "duplicates":  # a few positions repeated many times
        pool = rng.uniform(0, 10, (max(1, n // 4), 2))
        points = pool[rng.integers(0, len(pool), n)]
    elif coords == "line":  # collinear points with equal spacing
        points = np.stack([rng.integers(0, 2 * n + 1, n), np.full(n, 3.0)], axis=1).astype(float)
    elif coords == "offset":  # far from the origin: rounding in the grid's cell coordinates
        points = 1e7 + rng.uniform(0, 1, (n, 2))
    elif coords == "tiny":  # a nearly degenerate box
        points = rng.uniform(0, 1e-12, (n, 2)) * [1.0, 10.0 ** rng.integers(-6, 1)]
    elif coords == "clustered":  # a dense blob in a sparse field: very uneven grid cells
        points = rng.uniform(-1e4, 1e4, (n, 2))
        points[: n // 2] = rng.normal(0, 1e-3, (n // 2, 2))
    else:  # a long thin strip
        points = np.stack([rng.uniform(0, 1e5, n), rng.uniform(0, 1e-2, n)], axis=1)
    velocities = rng.normal(0, 1, (n, 2))
    if rng.random() < 0.5:  # coherent motion: positive correlations, long walks
        velocities += rng.normal(0, 3, 2)
    velocities[rng.random(n) < zero_velocity] = 0.0
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    event(f"N >= {10 ** int(np.log10(max(n, 1)))}")
    return points, velocities, offsets, k


def couplings(k: int):
    """z: None (1/(2K)) or a fraction of 1/K, including zK >= 0.6 where links may leave the KNN
    pattern, and zK close to 1 where phi needs the direct solve."""
    return st.one_of(
        st.none(), st.sampled_from([0.05, 0.3, 0.59, 0.7, 0.95, 0.99]).map(lambda f: f / k)
    )


@st.composite
def discs(draw):
    """(centers (N, 2), offsets (F+1,), height, width, radius) with exact-boundary cases."""
    n_frames = draw(st.integers(0, 4))
    sizes = draw(st.lists(st.integers(0, 12), min_size=n_frames, max_size=n_frames))
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    radius = draw(
        st.one_of(
            st.sampled_from([0.0, 0.5, 1.0, 2.5, 5.0, 20.0]),
            st.floats(0, 30, allow_nan=False, allow_infinity=False),
        )
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = sum(sizes)
    centers = rng.uniform(-25, 65, (n, 2))
    kind = draw(st.sampled_from(["float", "integer", "half", "float32"]))
    if kind == "integer":  # discs touching pixel centres exactly at distance r
        centers = np.round(centers)
    elif kind == "half":
        centers = np.round(centers * 2) / 2
    elif kind == "float32":
        centers = centers.astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return centers, offsets, height, width, radius


@st.composite
def disc_sets(draw):
    """(centers (N, 2), offsets (F+1,), height, width, radius): centers inside and outside the
    image, integer and half-integer coordinates (exact boundary pixels), widths that do and do not
    allow 16-byte stores, images spanning several GPU tiles (32 rows x 2048 columns)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    height = draw(st.sampled_from([1, 7, 33, 70]))
    width = draw(st.sampled_from([1, 13, 16, 48, 2049, 2100, 4096]))
    radius = draw(st.sampled_from([0.0, 0.5, 1.0, 2.5, 5.0, 20.0, 1e6]))
    n_frames = draw(st.integers(0, 4))
    sizes = rng.integers(0, 40, n_frames)
    n = int(sizes.sum())
    kind = draw(st.sampled_from(["float", "integer", "half"]))
    centers = rng.uniform(-30, 30, (n, 2)) + rng.uniform(0, 1, (n, 2)) * [width, height]
    if kind == "integer":
        centers = np.round(centers)
    elif kind == "half":
        centers = np.round(centers * 2) / 2
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return centers, offsets, height, width, radius
