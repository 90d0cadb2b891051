"""labelme annotations (the paper's ground truth was drawn with labelme) filled into masks.

Shapes are clipped to the image in floating point before they are drawn, so a vertex far
outside the image (1e9 px, which OpenCV's int32 fixed-point drawing would wrap around) still
fills exactly the part of the shape inside the image.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = ["labelme_mask"]

#: largest vertex coordinate accepted (beyond it differences of coordinates could overflow)
MAX_COORDINATE = 1e150
#: shapes are clipped to the image grown by this many pixels on every side (its boundary then
#: lies outside every pixel centre, so the clipped edges paint nothing)
_MARGIN = 2.0
_SHIFT = 4  # sub-pixel vertex precision for cv2 drawing (1/16 pixel)


def _clip_half_plane(
    poly: list[tuple[float, float]], axis: int, bound: float, below: bool
) -> list[tuple[float, float]]:
    """One Sutherland-Hodgman step: the part of ``poly`` with coordinate ``axis`` <= ``bound``
    (``below``) or >= ``bound``."""

    def inside(p: tuple[float, float]) -> bool:
        return p[axis] <= bound if below else p[axis] >= bound

    def cut(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
        t = (bound - a[axis]) / (b[axis] - a[axis])
        other = a[1 - axis] + t * (b[1 - axis] - a[1 - axis])
        return (bound, other) if axis == 0 else (other, bound)

    out: list[tuple[float, float]] = []
    for i, cur in enumerate(poly):
        prev = poly[i - 1]
        if inside(cur):
            if not inside(prev):
                out.append(cut(prev, cur))
            out.append(cur)
        elif inside(prev):
            out.append(cut(prev, cur))
    return out


def _clip_polygon(pts: np.ndarray, w: int, h: int) -> np.ndarray:
    """The polygon ``pts`` (n, 2) clipped, in float64, to the image grown by ``_MARGIN`` pixels;
    the result may be empty."""
    poly = [(float(x), float(y)) for x, y in pts]
    for axis, bound, below in (
        (0, -_MARGIN, False), (0, w - 1 + _MARGIN, True),
        (1, -_MARGIN, False), (1, h - 1 + _MARGIN, True),
    ):  # fmt: skip
        poly = _clip_half_plane(poly, axis, bound, below)
        if not poly:
            break
    return np.asarray(poly, np.float64).reshape(-1, 2)


def _fill_polygon(mask: np.ndarray, pts: np.ndarray) -> None:
    import cv2

    h, w = mask.shape
    clipped = _clip_polygon(pts, w, h)
    if len(clipped) >= 3:
        fixed = np.round(clipped * (1 << _SHIFT)).astype(np.int32)
        cv2.fillPoly(mask, [fixed], 1, cv2.LINE_8, _SHIFT)


def _fill_circle(mask: np.ndarray, centre: np.ndarray, rim: np.ndarray) -> None:
    """Pixels whose centre lies within the circle (exact, in float64)."""
    h, w = mask.shape
    r2 = float(np.sum((rim - centre) ** 2))
    cx, cy = float(centre[0]), float(centre[1])
    dx2 = (np.arange(w, dtype=np.float64) - cx) ** 2
    dy2 = (np.arange(h, dtype=np.float64) - cy) ** 2
    mask[dy2[:, None] + dx2[None, :] <= r2] = 1


def labelme_mask(
    path: str | os.PathLike,
    label: str | Iterable[str] = "crowd",
    shape: tuple[int, int] | None = None,
    found: Counter | None = None,
) -> np.ndarray:
    """Fill the shapes of a labelme JSON file whose label is ``label`` into an (H, W) bool mask.

    Polygons are clipped to the image in floating point and filled with ``cv2.fillPoly``
    (vertices at 1/16 pixel precision), rectangles from their two corners; circles (centre and
    a point on the rim) fill the pixels whose centre lies within them. The size comes from the
    file's ``imageHeight``/``imageWidth``; ``shape`` (H, W) is used when the file has none and
    must agree with it when it has. Shapes with other labels are ignored; ``found`` (a Counter),
    if given, counts the shapes of every label in the file, so that a caller can tell a label
    that matches nothing (``"Crowd"`` for ``"crowd"``) from an empty annotation.
    """
    path = Path(path)
    labels = {label} if isinstance(label, str) else set(label)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read labelme JSON {path}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        raise ValueError(f"{path} is not a labelme annotation (no 'shapes' list)")
    h, w = doc.get("imageHeight"), doc.get("imageWidth")
    if h is None or w is None:
        if shape is None:
            raise ValueError(f"{path} has no imageHeight/imageWidth and no image size was given")
        h, w = shape
    elif shape is not None and (int(h), int(w)) != tuple(shape):
        raise ValueError(
            f"size mismatch: {path} is {int(h)}x{int(w)} (HxW), the prediction is "
            f"{shape[0]}x{shape[1]}"
        )
    mask = np.zeros((int(h), int(w)), np.uint8)
    for i, s in enumerate(doc["shapes"]):
        if found is not None and isinstance(s, dict):
            found[str(s.get("label"))] += 1
        if not isinstance(s, dict) or s.get("label") not in labels:
            continue
        kind = s.get("shape_type") or "polygon"
        try:
            pts = np.asarray(s["points"], np.float64).reshape(-1, 2)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: shape {i} has no valid 'points'") from exc
        if not np.all(np.isfinite(pts)) or np.any(np.abs(pts) > MAX_COORDINATE):
            raise ValueError(
                f"{path}: shape {i} has points that are not finite or beyond +-{MAX_COORDINATE:g}"
            )
        if kind == "polygon":
            if len(pts) < 3:
                raise ValueError(f"{path}: polygon {i} has fewer than 3 points")
            _fill_polygon(mask, pts)
        elif kind == "rectangle":
            if len(pts) != 2:
                raise ValueError(f"{path}: rectangle {i} needs 2 points, has {len(pts)}")
            (x0, y0), (x1, y1) = pts
            _fill_polygon(mask, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
        elif kind == "circle":
            if len(pts) != 2:
                raise ValueError(f"{path}: circle {i} needs 2 points, has {len(pts)}")
            _fill_circle(mask, pts[0], pts[1])
        else:
            raise ValueError(f"{path}: shape {i} has unsupported shape_type {kind!r} for a mask")
    return mask.astype(bool)
