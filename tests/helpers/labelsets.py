"""Writes tiny label sets in the on-disk format of `pympas label` for the training tests."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np


def write_labelset(directory, n_frames: int = 4, size: tuple[int, int] = (48, 64), seed: int = 0):
    """A label set whose masks mark a bright textured disc on a dark noisy background, so the
    segmentation is learnable in a few steps. Returns the directory path."""
    h, w = size
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(directory, "frames"), exist_ok=True)
    os.makedirs(os.path.join(directory, "masks"), exist_ok=True)
    frames = []
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n_frames):
        cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
        r = rng.uniform(0.2, 0.3) * min(h, w)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8) * 255
        img = rng.integers(0, 60, (h, w, 3)).astype(np.uint8)
        img[mask > 0] = rng.integers(160, 255, (int((mask > 0).sum()), 3)).astype(np.uint8)
        name = f"{i:06d}.png"
        cv2.imwrite(os.path.join(directory, "frames", name), img)
        cv2.imwrite(os.path.join(directory, "masks", name), mask)
        frames.append(
            {"index": i, "image": f"frames/{name}", "mask": f"masks/{name}", "tracked": 0,
             "moving": 0, "kept": 0, "coverage": float((mask > 0).mean())}
        )  # fmt: skip
    meta = {"format": "pympas-labelset", "format_version": 1, "pympas_version": "test"}
    meta.update(source="synthetic", height=h, width=w, params={}, frames=frames)
    with open(os.path.join(directory, "labels.json"), "w") as fh:
        json.dump(meta, fh)
    return str(directory)
