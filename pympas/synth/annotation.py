"""Annotator-like crowd regions: a second ground truth shaped like hand-drawn polygons.

The paper's ground truth was drawn with labelme as polygons around *groups* of people, not as
pixel-exact silhouettes. :func:`region_mask` turns the exact person silhouettes of a frame into
such regions with a fixed rule (fixed before any model was scored against it):

1. ``S`` is the union of all person silhouettes (the pixels where a person is drawn; people
   occluded or cut off at the image border count with what is drawn).
2. Each person ``i`` with at least one drawn pixel has an image height ``h_i`` in pixels
   (given by the caller) and a radius ``r_i = radius_factor * h_i`` (default 0.3: people
   walking side by side are about one body width apart, and a body is 0.25-0.3 of its height).
   Radii are rounded to the nearest integer ``b = round(r_i)``; the people with the same ``b``
   form band ``b``.
3. For each band ``b >= 1``: ``C_b`` is the morphological closing of ``S`` with the Euclidean
   disc ``{d : |d| <= b}`` (the plane outside the image counts as empty), and its piece is
   ``C_b`` restricted to the pixels within distance ``b`` of the band's silhouettes ``S_b``
   (the dilation of ``S_b`` by the same disc).
4. ``R = S | union of the pieces``; then every connected region of ``R`` is filled: all pixels
   inside its outer contour (8-connected) belong to it, so regions have no holes.

A consequence of step 4: a crowd that encloses an empty area (the walkers of the ``ring``
scene around its central square) is one region with that area inside it, as a labelme polygon
drawn around the crowd would be. Nobody moves in that area, so no motion-based label marks it,
and an appearance-based network has no person there to find either.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

RADIUS_FACTOR = 0.3  # r_i = RADIUS_FACTOR * h_i


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (float32, exact) from every pixel to the nearest True pixel of
    ``mask``; about 1.8e19 everywhere when ``mask`` is empty."""
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def region_mask(
    owner: np.ndarray, heights: np.ndarray, radius_factor: float = RADIUS_FACTOR
) -> np.ndarray:
    """Annotator-like region mask (H, W) bool of one frame (definition in the module docstring).

    ``owner`` (H, W) int: the index of the person drawn on each pixel, -1 where none (for the
    renderer's label image: :func:`pympas.synth.raster.person_index`). ``heights`` (P,) float:
    each person's image height ``h_i`` in pixels, indexed like ``owner``; people without a
    drawn pixel are ignored. The result contains every silhouette pixel.
    """
    owner = np.asarray(owner)
    if owner.ndim != 2:
        raise ValueError(f"owner must be an (H, W) index image, got shape {owner.shape}")
    heights = np.asarray(heights, dtype=np.float64).ravel()
    if not radius_factor >= 0:
        raise ValueError(f"radius_factor must be >= 0, got {radius_factor}")
    s = owner >= 0
    if not s.any():
        return s
    present = np.unique(owner[s])
    if present[-1] >= len(heights):
        raise ValueError(f"owner names person {present[-1]} but only {len(heights)} heights given")
    radius = np.rint(radius_factor * np.nan_to_num(heights[present])).astype(np.int64)
    b_max = int(radius.max())
    out = s.copy()
    hh, ww = s.shape
    if b_max >= 1:
        # a canvas with the image in the middle and an empty margin outside it (the plane outside
        # the image is empty); every window below, the bounding box of a band's silhouettes
        # grown by 2 b + 1, lies inside it, and the kept pixels (within b of S_b) only depend on
        # the dilation of S within b of them, so the window edges never matter
        pad = 2 * b_max + 1
        inner = (slice(pad, pad + hh), slice(pad, pad + ww))
        canvas = np.zeros((hh + 2 * pad, ww + 2 * pad), bool)
        canvas[inner] = s
        bands = np.zeros(canvas.shape, np.int32)
        lut = np.zeros(int(present[-1]) + 1, np.int32)
        lut[present] = radius
        bands[inner] = np.where(s, lut[np.maximum(owner, 0)], 0)
        dist_s = _distance_to(canvas)
        grown = np.zeros(canvas.shape, bool)
        for b, box in enumerate(ndimage.find_objects(bands), start=1):
            if box is None:
                continue
            m = 2 * b + 1
            win = tuple(slice(sl.start - m, sl.stop + m) for sl in box)
            closed = _distance_to(dist_s[win] > b) > b  # closing: erode the dilation by b
            grown[win] |= closed & (_distance_to(bands[win] == b) <= b)
        out |= grown[inner]
    contours, _ = cv2.findContours(out.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros((hh, ww), np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return out | (filled > 0)
