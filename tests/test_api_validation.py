"""Bad input is rejected with an error naming the argument; degenerate frames still work."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import pympas

PTS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
VEL = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 0.0], [-1.0, 0.0]])


KERNELS = {
    "knn_correlation": lambda p, v, o, k, z: pympas.knn_correlation(p, v, o, k),
    "collectiveness_batch": lambda p, v, o, k, z: pympas.collectiveness_batch(
        p, v, [0, len(PTS)] if o is None else o, k, z
    ),
    "collectiveness": lambda p, v, o, k, z: (
        pympas.collectiveness(p, v, k, z)
        if o is None
        else pympas.collectiveness_batch(p, v, o, k, z)
    ),
    "individual_collectiveness": lambda p, v, o, k, z: pympas.individual_collectiveness(
        p, v, o, k, z
    ),
}


BAD_PARTICLE_ARGS = [
    ({"points": PTS[:, :1]}, ValueError, "points"),
    ({"points": PTS.ravel()}, ValueError, "points"),
    ({"points": "abc"}, TypeError, "points"),
    ({"points": PTS.astype(complex)}, TypeError, "points"),
    ({"velocities": VEL[:3]}, ValueError, "velocities"),
    ({"velocities": np.zeros((4, 3))}, ValueError, "velocities"),
    ({"points": np.where(PTS == 3.0, np.nan, PTS)}, ValueError, "points"),
    ({"velocities": np.where(VEL == -1.0, np.inf, VEL)}, ValueError, "velocities"),
    ({"offsets": [0, 3, 2, 4]}, ValueError, "offsets"),
    ({"offsets": [0, 2, 3]}, ValueError, "offsets"),
    ({"offsets": [1, 4]}, ValueError, "offsets"),
    ({"offsets": [0.0, 1.5, 4.0]}, TypeError, "offsets"),
    ({"offsets": [[0, 4]]}, ValueError, "offsets"),
    ({"k": 0}, ValueError, "k"),
    ({"k": 2.0}, TypeError, "k"),
    ({"z": 0.0}, ValueError, "z"),
    ({"z": -0.1}, ValueError, "z"),
    ({"z": 0.5}, ValueError, "z"),  # = 1/K with K = 2
    ({"z": float("nan")}, ValueError, "z"),
    # outside the domain: squares would overflow (positions, velocities), not an int64 (k)
    ({"points": np.where(PTS == 3.0, 1.3e154, PTS)}, ValueError, "points"),
    ({"points": np.where(PTS == 3.0, -2e150, PTS)}, ValueError, "points"),
    ({"velocities": np.where(VEL == -1.0, 1e154, VEL)}, ValueError, "velocities"),
    ({"k": 2**63}, ValueError, "k"),
]


@pytest.mark.parametrize(
    ("kwargs", "error", "name", "kernel"),
    [
        (*case, kernel)
        for case in BAD_PARTICLE_ARGS
        for kernel in sorted(KERNELS)
        if not (case[2] == "z" and kernel == "knn_correlation")  # it takes no z
    ],
)
def test_bad_particle_arguments_raise_errors_naming_the_argument(kwargs, error, name, kernel):
    args = {"points": PTS, "velocities": VEL, "offsets": None, "k": 2, "z": None} | kwargs
    with pytest.raises(error, match=rf"\b{name}\b"):
        KERNELS[kernel](args["points"], args["velocities"], args["offsets"], args["k"], args["z"])


def test_rasterize_with_radius_and_centre_whose_squares_overflow_is_refused_not_hung():
    """r^2 - dy^2 was inf - inf = NaN, cast to int64: a ~9e18-step loop that no signal stopped.
    Run in a child process so that a regression fails on the timeout instead of hanging."""
    import subprocess
    import sys

    code = (
        "import numpy as np, pympas\n"
        "try:\n"
        "    pympas.rasterize_circles(np.array([[0.0, -1.3e154]]), None, 4, 4, 1.3e154)\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "centers must lie within +-1e+150" in done.stdout, done.stderr


@pytest.mark.parametrize("value", [None, 0, 1, "yes", np.float64(1.0)])
@pytest.mark.parametrize("kernel", ["collectiveness", "individual_collectiveness"])
def test_clamp_negative_must_be_true_or_false(kernel, value):
    with pytest.raises(TypeError, match=r"clamp_negative must be True or False"):
        getattr(pympas, kernel)(PTS, VEL, k=2, clamp_negative=value)


def test_min_cluster_size_below_one_is_rejected():
    with pytest.raises(ValueError, match="min_cluster_size"):
        pympas.collectiveness(PTS, VEL, k=2, min_cluster_size=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"radius": -1.0}, ValueError, "radius"),
        ({"radius": float("inf")}, ValueError, "radius"),
        ({"height": 0}, ValueError, "height"),
        ({"width": -5}, ValueError, "width"),
        ({"height": 2.5}, TypeError, "height"),
        ({"centers": np.zeros((3, 3))}, ValueError, "centers"),
        ({"centers": np.array([[np.nan, 1.0]])}, ValueError, "centers"),
        ({"offsets": [0, 2]}, ValueError, "offsets"),
        ({"radius": 1.3e154}, ValueError, "radius"),
        ({"centers": np.array([[0.0, -1.3e154]])}, ValueError, "centers"),
        ({"height": 2**63}, ValueError, "height"),
    ],
)
def test_bad_rasterize_arguments_raise_errors_naming_the_argument(kwargs, error, name):
    args = {"centers": np.array([[1.0, 1.0]]), "offsets": None, "height": 4, "width": 4}
    args.update(kwargs)
    with pytest.raises(error, match=rf"\b{name}\b"):
        pympas.rasterize_circles(**args)


def test_frames_with_zero_one_or_at_most_k_particles_work():
    k = 3
    sizes = [0, 1, 2, 3, 4, 0]
    rng = np.random.default_rng(0)
    n = sum(sizes)
    points = rng.uniform(0, 10, (n, 2))
    velocities = np.tile([1.0, 0.0], (n, 1))
    offsets = np.concatenate([[0], np.cumsum(sizes)])

    nbr, corr = pympas.knn_correlation(points, velocities, offsets, k)
    for (lo, hi), m in zip(itertools.pairwise(offsets), sizes, strict=True):
        take = max(m - 1, 0) if m <= k else k
        assert np.all(nbr[lo:hi, take:] == -1) and np.all(corr[lo:hi, take:] == 0)
        assert np.all((nbr[lo:hi, :take] >= lo) & (nbr[lo:hi, :take] < hi))
        assert not np.any(nbr[lo:hi, :take] == np.arange(lo, hi)[:, None])
        np.testing.assert_array_equal(corr[lo:hi, :take], 1.0)

    res = pympas.collectiveness_batch(points, velocities, offsets, k, min_cluster_size=2)
    assert res.phi.shape == (n,) and res.clusters.shape == (n,)
    assert res.phi[offsets[1]] == 0.0  # a lone particle has no neighbours
    assert res.clusters[offsets[1]] == 0  # nor a cluster of 2
    # Aligned particles: Z[i, j] = z / ((1 + z)(1 - 2z)) > 0.6 kappa in the frame of 3 and
    # z / (1 - 3z) in the frame of 4 (all linked), but only z / (1 - z^2) in the frame of 2.
    assert not res.keep[offsets[2] : offsets[3]].any()
    assert res.keep[offsets[3] : offsets[5]].all()
    np.testing.assert_array_equal(res.clusters[offsets[3] : offsets[5]], [1, 1, 1, 2, 2, 2, 2])
    np.testing.assert_allclose(
        pympas.individual_collectiveness(points, velocities, offsets, k), res.phi, rtol=1e-12
    )

    empty = pympas.collectiveness_batch(np.zeros((0, 2)), np.zeros((0, 2)), [0], k)
    assert empty.phi.shape == (0,) and empty.edges.shape == (0, 2) and empty.num_frames == 0
    assert pympas.rasterize_circles(np.zeros((0, 2)), [0, 0, 0], 3, 5).shape == (2, 3, 5)
    assert not pympas.rasterize_circles(np.zeros((0, 2)), [0, 0], 3, 5).any()


def test_zero_velocities_correlate_zero_and_get_zero_collectiveness():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    velocities = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    _, corr = pympas.knn_correlation(points, velocities, k=2)
    np.testing.assert_array_equal(corr[0], 0.0)
    phi = pympas.individual_collectiveness(points, velocities, k=2)
    assert phi[0] == 0.0 and phi[1] > 0.0


def test_native_module_rejects_inconsistent_shapes_directly():
    native = pympas._backend.native()
    with pytest.raises(ValueError, match="offsets"):
        native.knn_correlation(PTS, VEL, np.array([0, 3], np.int64), 2)
    with pytest.raises(ValueError, match="velocities"):
        native.collectiveness(PTS, VEL[:2], np.array([0, 4], np.int64), 2, 0.1, True, 1)
    with pytest.raises(ValueError, match="radius"):
        native.rasterize_circles(PTS, np.array([0, 4], np.int64), 3, 3, -1.0)
