"""Property tests: the native kernels agree with the dense NumPy reference (pympas.reference).

Tests taking the ``device`` fixture run once on the CPU and once on CUDA (skipped without a GPU):
the CUDA kernels must give the same KNN, correlations and masks bit for bit.

Inputs are drawn from a seed plus structural choices made by hypothesis: ragged batches with
empty, one-particle and tiny frames, integer coordinates (many exact distance ties), duplicated
positions, zero velocities, K from 1 to 64 and z up to 0.99 / K (see helpers/strategies.py).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers.devices import to_numpy
from helpers.strategies import SETTINGS, couplings, crowds, disc_sets, discs
from hypothesis import given, settings
from hypothesis import strategies as st

import pympas
from pympas import reference


@settings(max_examples=150, **SETTINGS)
@given(crowd=crowds(max_points=300))
def test_knn_correlation_equals_reference_bit_for_bit(device, crowd):
    points, velocities, offsets, k = crowd
    nbr, corr = pympas.knn_correlation(points, velocities, offsets, k, device=device)
    if device == "cuda":
        assert nbr.is_cuda and corr.is_cuda
    ref_nbr, ref_corr = reference.knn_correlation(points, velocities, offsets, k)
    np.testing.assert_array_equal(to_numpy(nbr), ref_nbr)
    np.testing.assert_array_equal(to_numpy(corr), ref_corr)


def assert_collectiveness_matches(points, velocities, offsets, k, z, clamp, min_size):
    res = pympas.collectiveness_batch(points, velocities, offsets, k, z, clamp, min_size)
    zz = 1.0 / (2 * k) if z is None else z
    assert res.threshold == pympas.link_threshold(k, zz)
    near = 0  # reference Z entries too close to the threshold for the dense inverse to decide
    phis, edges = [], []
    for lo, hi in itertools.pairwise(offsets):
        ref = reference.collectiveness_frame(
            points[lo:hi], velocities[lo:hi], k, z, clamp, min_size
        )
        phis.append(ref["phi"])
        row = res.edges[:, 0]
        mine = res.edges[(row >= lo) & (row < hi)] - lo
        theirs = ref["edges"]
        gap = np.abs(ref["z_matrix"] - res.threshold)
        np.fill_diagonal(gap, np.inf)
        ambiguous = gap < 1e-12
        near += int(ambiguous.sum())
        differ = set(map(tuple, mine.tolist())) ^ set(map(tuple, theirs.tolist()))
        assert all(ambiguous[i, j] for i, j in differ), sorted(differ)[:5]
        # Collective merging of the native links, checked against the reference's merging.
        expected = reference.collective_merging(hi - lo, mine, min_size)
        got = res.clusters[lo:hi].copy()
        if np.any(got > 0):
            got[got > 0] -= got[got > 0].min() - 1
        np.testing.assert_array_equal(got, expected)
        if not differ:
            np.testing.assert_array_equal(got, ref["clusters"])
        edges.append(mine + lo)
    np.testing.assert_allclose(res.phi, np.concatenate(phis or [[]]), rtol=1e-9, atol=1e-12)
    # Edges are sorted by (i, j) in global indices; labels unique across the batch.
    if len(res.edges):
        keys = res.edges[:, 0] * len(points) + res.edges[:, 1]
        assert np.all(np.diff(keys) > 0)
    seen = 0
    for lo, hi in itertools.pairwise(offsets):
        labels = np.unique(res.clusters[lo:hi][res.clusters[lo:hi] > 0])
        np.testing.assert_array_equal(labels, np.arange(seen + 1, seen + 1 + len(labels)))
        seen += len(labels)
    n_pairs = sum((hi - lo) * (hi - lo - 1) for lo, hi in itertools.pairwise(offsets))
    assert near <= max(2, n_pairs // 1000)
    return res


@settings(max_examples=120, **SETTINGS)
@given(st.data())
def test_collectiveness_equals_dense_reference_on_small_batches(data):
    points, velocities, offsets, k = data.draw(crowds(max_points=120))
    z = data.draw(couplings(k))
    clamp = data.draw(st.booleans())
    min_size = data.draw(st.integers(1, 12))
    assert_collectiveness_matches(points, velocities, offsets, k, z, clamp, min_size)


@settings(max_examples=4, **SETTINGS)
@given(st.data())
def test_collectiveness_equals_dense_reference_on_large_frames(data):
    points, velocities, offsets, k = data.draw(
        crowds(max_frames=1, max_points=1500).filter(lambda c: len(c[0]) > 400)
    )
    z = data.draw(couplings(k))
    clamp = data.draw(st.booleans())
    assert_collectiveness_matches(points, velocities, offsets, k, z, clamp, 10)


@settings(max_examples=120, **SETTINGS)
@given(st.data())
def test_individual_collectiveness_equals_dense_row_sums(data):
    points, velocities, offsets, k = data.draw(crowds(max_points=200))
    z = data.draw(couplings(k))
    clamp = data.draw(st.booleans())
    phi = pympas.individual_collectiveness(points, velocities, offsets, k, z, clamp)
    ref = reference.collectiveness_batch(points, velocities, offsets, k, z, clamp)
    np.testing.assert_allclose(phi, ref["phi"], rtol=1e-9, atol=1e-12)


def test_individual_collectiveness_near_the_convergence_limit_uses_a_direct_solve():
    # zK = 0.999 with coherent motion: the Neumann series would need thousands of terms.
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 100, (400, 2))
    velocities = np.tile([1.0, 0.2], (400, 1)) + rng.normal(0, 0.05, (400, 2))
    k, z = 10, 0.999 / 10
    phi = pympas.individual_collectiveness(points, velocities, k=k, z=z)
    ref = reference.collectiveness_batch(points, velocities, np.array([0, 400]), k, z)
    np.testing.assert_allclose(phi, ref["phi"], rtol=1e-9)
    assert phi.max() > 100  # the long walks really matter here


@settings(max_examples=200, **SETTINGS)
@given(case=discs())
def test_rasterize_circles_equals_reference_pixel_for_pixel(device, case):
    centers, offsets, height, width, radius = case
    masks = pympas.rasterize_circles(centers, offsets, height, width, radius, device=device)
    ref = reference.rasterize_circles(
        np.asarray(centers, np.float64), offsets, height, width, radius
    )
    if device == "cuda":
        assert masks.is_cuda
    masks = to_numpy(masks)
    assert masks.dtype == np.bool_
    assert masks.shape == (len(offsets) - 1, height, width)
    np.testing.assert_array_equal(masks, ref)


@settings(max_examples=60, **SETTINGS)
@given(case=disc_sets())
def test_rasterize_circles_on_images_spanning_gpu_tiles_equals_cpu_and_reference(device, case):
    centers, offsets, height, width, radius = case
    masks = pympas.rasterize_circles(centers, offsets, height, width, radius, device=device)
    if device == "cuda":
        assert masks.is_cuda
    masks = to_numpy(masks)
    assert masks.dtype == np.bool_
    cpu = pympas.rasterize_circles(centers, offsets, height, width, radius)
    np.testing.assert_array_equal(masks, cpu)
    if width * height * (len(offsets) - 1) <= 200_000:
        ref = reference.rasterize_circles(centers, offsets, height, width, radius)
        np.testing.assert_array_equal(cpu, ref)


def test_rasterize_paints_the_inside_part_of_discs_centred_outside_the_image():
    masks = pympas.rasterize_circles(np.array([[-3.0, 5.0], [12.0, -2.0]]), None, 10, 10, 4)
    assert masks[0, 5, 0] and masks[0, 5, 1] and not masks[0, 5, 2]
    assert masks[0, 0, 9] and not masks[0, 0, 8] and not masks[0, 1, 9]
    np.testing.assert_array_equal(
        masks, reference.rasterize_circles(np.array([[-3.0, 5.0], [12.0, -2.0]]), [0, 2], 10, 10, 4)
    )


def test_kernels_at_the_edge_of_the_domain_equal_the_reference(device):
    """|coordinates|, |velocities| and radii up to 1e150 (the domain, whose squares stay finite):
    neighbours, correlations and discs are those of the reference, not artefacts of overflow."""
    big = pympas._validate.MAX_MAGNITUDE
    points = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 1.0], [big, -big], [-big, big], [2.0, 5.0]])
    velocities = np.array([[big, big], [1.0, 1.0], [-big, -big], [big, 0.0], [0.0, -big],
                           [1e-3, 0.0]])  # fmt: skip
    nbr, corr = pympas.knn_correlation(points, velocities, k=4, device=device)
    ref_nbr, ref_corr = reference.knn_correlation(points, velocities, np.array([0, 6]), 4)
    np.testing.assert_array_equal(to_numpy(nbr), ref_nbr)
    np.testing.assert_array_equal(to_numpy(corr), ref_corr)
    assert to_numpy(corr)[0, 0] == pytest.approx(1.0)  # (1e150, 1e150) and (1, 1) agree
    assert to_numpy(corr)[1, 1] == pytest.approx(-1.0)  # (1, 1) and (-1e150, -1e150) oppose
    centers = np.array([[2.0, -big], [-big, 3.0], [big, big], [4.0, 4.0]])
    for radius in (big, 1e75, 2.5):
        masks = pympas.rasterize_circles(centers, [0, 1, 2, 4], 6, 7, radius, device=device)
        ref = reference.rasterize_circles(centers, [0, 1, 2, 4], 6, 7, radius)
        np.testing.assert_array_equal(to_numpy(masks), ref)
