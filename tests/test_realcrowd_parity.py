"""Parity with the authors' own collectiveness code (Octave output) on a real crowd clip."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers.realcrowd import (
    DATA_DIR,
    SIZE,
    TRACKS,
    load_reference,
    particles_by_frame,
    reference_files,
    same_partition,
)

import pympas

K = 20


def test_shared_reference_folder_is_present():
    assert DATA_DIR.is_dir(), f"missing shared reference data: {DATA_DIR}"
    assert len(reference_files()) == 34


@pytest.mark.parametrize("path", reference_files(), ids=lambda p: p.stem)
def test_native_collectiveness_matches_authors_code(path):
    frame, clamp, ref = load_reference(path)
    rows = particles_by_frame()[frame]
    # The particle set rebuilt from the trajectories is the one the authors' code used.
    np.testing.assert_array_equal(rows[:, [0, 1, 2, 3, 5]], ref[:, :5])
    points, velocities = rows[:, 0:2], rows[:, 2:4]

    res = pympas.collectiveness(points, velocities, k=K, clamp_negative=clamp)
    np.testing.assert_allclose(res.phi, ref[:, 5], rtol=0, atol=1e-8)
    links_per_particle = np.bincount(res.edges[:, 0], minlength=len(points))
    np.testing.assert_array_equal(links_per_particle, ref[:, 6].astype(np.int64))
    assert same_partition(res.clusters, ref[:, 7].astype(np.int64))

    phi = pympas.individual_collectiveness(points, velocities, k=K, clamp_negative=clamp)
    np.testing.assert_allclose(phi, ref[:, 5], rtol=0, atol=1e-8)


def test_batch_of_all_reference_frames_matches_frame_by_frame():
    frames = [load_reference(p) for p in reference_files() if p.name.endswith("clamp1.csv")]
    tables = [particles_by_frame()[f] for f, _, _ in frames]
    points = np.concatenate([t[:, 0:2] for t in tables])
    velocities = np.concatenate([t[:, 2:4] for t in tables])
    offsets = np.cumsum([0] + [len(t) for t in tables])
    batch = pympas.collectiveness_batch(points, velocities, offsets, k=K)
    assert np.all(np.diff(batch.edges[:, 0]) >= 0)
    for f, (_, _, ref) in enumerate(frames):
        one = batch.frame(f)
        np.testing.assert_allclose(one.phi, ref[:, 5], rtol=0, atol=1e-8)
        assert same_partition(one.clusters, ref[:, 7].astype(np.int64))
    # Labels are unique across the batch: frame f's clusters come after those of earlier frames.
    seen = 0
    for lo, hi in itertools.pairwise(offsets):
        labels = np.unique(batch.clusters[lo:hi][batch.clusters[lo:hi] > 0])
        np.testing.assert_array_equal(labels, np.arange(seen + 1, seen + 1 + len(labels)))
        seen += len(labels)


@pytest.fixture(scope="module", params=[True, False], ids=["clamp1", "clamp0"])
def labelled_from_tracks(request):
    """label() from the clip's trajectory file alone, with the authors' conventions: forward
    velocities, no stationary-particle filter; Eq. 1's clamp (clamp1) or the authors' code's
    negative correlations kept (clamp0)."""
    clamp = request.param
    labels = pympas.label(
        None, tracks=TRACKS, size=SIZE, velocity="forward", min_speed=0,
        clamp_negative=clamp, device="cpu", progress=False,
    )  # fmt: skip
    return clamp, labels


def test_label_from_the_clips_tracks_matches_the_authors_code_on_every_reference_frame(
    labelled_from_tracks,
):
    clamp, labels = labelled_from_tracks
    refs = [load_reference(p) for p in reference_files()]
    refs = {f: ref for f, c, ref in refs if c == clamp}
    # default stride 20 labels video frames 0, 20, ..., 320 = file frames 1, 21, ..., 321
    assert sorted(refs) == list(range(1, 322, 20))
    np.testing.assert_array_equal(labels.frame_indices, np.arange(0, 321, 20))
    assert labels.frame_count == 330 and labels.masks.shape[1:] == SIZE
    assert labels.params["tracking"] == "file" and labels.params["velocity"] == "forward"
    for index, parts in zip(labels.frame_indices, labels.particles, strict=True):
        ref = refs[int(index) + 1]
        np.testing.assert_array_equal(parts.positions, ref[:, 0:2])
        np.testing.assert_array_equal(parts.velocities, ref[:, 2:4])
        np.testing.assert_allclose(parts.phi, ref[:, 5], rtol=0, atol=1e-8)
        np.testing.assert_array_equal(parts.links, ref[:, 6].astype(np.int64))
        assert same_partition(parts.cluster, ref[:, 7].astype(np.int64)), index
        np.testing.assert_array_equal(parts.keep, ref[:, 7] > 0)
