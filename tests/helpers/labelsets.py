"""Writes tiny label sets with :meth:`pympas.LabelSet.save` (the format of `pympas label`) for
the training tests."""

from __future__ import annotations

import numpy as np

from pympas.labelset import LabelSet, Particles


def write_labelset(
    directory, n_frames: int = 4, size: tuple[int, int] = (48, 64), seed: int = 0,
    params: dict | None = None,
):  # fmt: skip
    """A label set whose masks mark a bright textured disc on a dark noisy background, so the
    segmentation is learnable in a few steps; ``params`` are its recorded labelling parameters
    (none by default). Returns the directory path."""
    h, w = size
    rng = np.random.default_rng(seed)
    frames, masks = [], []
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(n_frames):
        cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        r = rng.uniform(0.2, 0.3) * min(h, w)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        img = rng.integers(0, 60, (h, w, 3)).astype(np.uint8)
        img[mask] = rng.integers(160, 255, (int(mask.sum()), 3)).astype(np.uint8)
        frames.append(img)
        masks.append(mask)
    none = Particles(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), np.zeros(0, np.int64),
                     np.zeros(0, bool))  # fmt: skip
    labels = LabelSet(
        source="synthetic", frame_indices=np.arange(n_frames), frames=np.stack(frames),
        masks=np.stack(masks), particles=[none] * n_frames, params=params or {},
    )  # fmt: skip
    labels.save(directory, overwrite=True)
    return str(directory)
