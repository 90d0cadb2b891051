"""The label image's layout and the fixed-point coordinates it is drawn with.

Every frame is first drawn as a *label image* (H, W) uint16: 0 shows the background (ground
and static clutter), 1 to ``PERSON0 - 1`` the parts of cars (car ``k`` has body, windows and
wheels at ``1 + 3k .. 3 + 3k``), and ``PERSON0 + 8 * slot + part`` the parts of the person in
``slot`` (``part`` one of :data:`LEGS` .. :data:`SHOES`). All cv2 drawing uses its sub-pixel
mode: image coordinates are scaled by ``2 ** SHIFT`` and rounded (:func:`to_fixed`).
"""

from __future__ import annotations

import numpy as np

MAX_CARS = 4  # cars with their own colour in one frame
PERSON0 = 1 + 3 * MAX_CARS  # first person label; car k has body, windows, wheels 1+3k..3+3k
SHIFT = 3  # sub-pixel bits for cv2 drawing
SCALE = float(1 << SHIFT)

# part indices (label = PERSON0 + 8 * slot + part)
LEGS, TORSO, ARMS, SKIN, HAIR, SHOES = range(6)


def to_fixed(uv: np.ndarray) -> np.ndarray:
    """Image coordinates (..., 2) as int32 fixed-point points for cv2's ``shift=SHIFT``."""
    return np.round(uv * SCALE).astype(np.int32)


def person_index(labels: np.ndarray) -> np.ndarray:
    """The slot of the person drawn on each pixel of a label image (H, W) int32, -1 where no
    person is drawn (the slot is the person's row in the arrays the frame was rendered from)."""
    lab = np.asarray(labels).astype(np.int32)
    return np.where(lab >= PERSON0, (lab - PERSON0) // 8, -1).astype(np.int32)
