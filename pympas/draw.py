"""Pictures of results laid over frames: the motion particles of Fig. 3 and tinted masks.

Both take and return (H, W, 3) uint8 RGB images; OpenCV is imported on first use.
"""

from __future__ import annotations

import numpy as np

from pympas.background import IGNORE

__all__ = ["IGNORE_COLOUR", "MASK_COLOUR", "draw_particles", "overlay_label", "overlay_mask"]

#: RGB of the mask tint in overlays
MASK_COLOUR = (255, 64, 32)
#: RGB of the pixels a training label leaves out of L_SEG
IGNORE_COLOUR = (128, 128, 128)
# Particle overlay colours (RGB), after the paper's Fig. 3.
_KEPT = (0, 255, 0)
_OUTLIER = (255, 0, 0)
_EDGE = (255, 255, 0)


def draw_particles(
    image: np.ndarray, mask: np.ndarray, positions: np.ndarray, keep: np.ndarray
) -> np.ndarray:
    """Fig. 3 style picture: the frame, kept particles as green dots, outliers as red crosses and
    the pseudo-mask edge in yellow.

    Args:
        image: (H, W, 3) uint8 RGB frame.
        mask: (H, W) bool pseudo-mask.
        positions: (n, 2) particle positions (x, y).
        keep: (n,) bool, the particles collective merging kept.

    Returns:
        (H, W, 3) uint8 RGB image.
    """
    import cv2

    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, _EDGE, 2)
    pts = np.rint(np.asarray(positions)).astype(np.int32).reshape(-1, 2)
    for (x, y), kept in zip(pts, np.asarray(keep, bool), strict=True):
        if kept:
            cv2.circle(out, (int(x), int(y)), 2, _KEPT, -1)
        else:
            cv2.drawMarker(out, (int(x), int(y)), _OUTLIER, cv2.MARKER_TILTED_CROSS, 6, 1)
    return out


def overlay_mask(
    rgb: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = MASK_COLOUR
) -> np.ndarray:
    """Tint the crowd pixels of an (H, W, 3) uint8 RGB frame and outline the (H, W) mask;
    returns (H, W, 3) uint8 RGB."""
    import cv2

    out = np.asarray(rgb, dtype=np.uint8).copy()
    m = np.asarray(mask, bool)
    tint = np.asarray(colour, np.float32)
    out[m] = (0.55 * out[m] + 0.45 * tint).astype(np.uint8)
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, colour, 1)
    return out


def overlay_label(rgb: np.ndarray, label: np.ndarray, ignore: int = IGNORE) -> np.ndarray:
    """A training label over an (H, W, 3) uint8 RGB frame: crowd (1) tinted as by
    :func:`overlay_mask`, ignored pixels (``ignore``) grey; returns (H, W, 3) uint8 RGB."""
    label = np.asarray(label)
    out = overlay_mask(rgb, label == 1)
    m = label == ignore
    out[m] = (0.4 * out[m] + 0.6 * np.asarray(IGNORE_COLOUR, np.float32)).astype(np.uint8)
    return out
