"""A generated crowd of moving points for examples and ``pympas example``.

Three groups walk coherently (east, west, north-east) through random clutter particles that
jitter in place; collective merging should keep the groups and drop most of the clutter.
"""

from __future__ import annotations

import numpy as np


def generated_crowd(
    n_frames: int = 8, per_group: int = 300, clutter: int = 150, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A small synthetic crowd: returns points (N, 2), velocities (N, 2), offsets (F+1,) and
    the group of each particle (N,), 0 for clutter and 1..3 for the walking groups."""
    rng = np.random.default_rng(seed)
    headings = np.array([[1.0, 0.0], [-1.0, 0.0], [0.7, 0.7]])
    centres = np.array([[160.0, 120.0], [480.0, 240.0], [320.0, 380.0]])
    pts, vel, grp, offsets = [], [], [], [0]
    for f in range(n_frames):
        for g in range(3):
            p = centres[g] + headings[g] * 3.0 * f + rng.normal(0, 45, (per_group, 2))
            v = headings[g] * 3.0 + rng.normal(0, 0.4, (per_group, 2))
            pts.append(p), vel.append(v), grp.append(np.full(per_group, g + 1))
        pts.append(rng.uniform(0, [640, 480], (clutter, 2)))
        vel.append(rng.normal(0, 1.5, (clutter, 2)))
        grp.append(np.zeros(clutter, int))
        offsets.append(offsets[-1] + 3 * per_group + clutter)
    return np.concatenate(pts), np.concatenate(vel), np.asarray(offsets), np.concatenate(grp)
