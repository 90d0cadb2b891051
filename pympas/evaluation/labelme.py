"""labelme annotations (the paper's ground truth was drawn with labelme) filled into masks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = ["labelme_mask"]


def labelme_mask(
    path: str | os.PathLike,
    label: str | Iterable[str] = "crowd",
    shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Fill the shapes of a labelme JSON file whose label is ``label`` into an (H, W) bool mask.

    Polygons are filled with ``cv2.fillPoly`` (vertices at sub-pixel precision), rectangles from
    their two corners, circles from their centre and a point on the rim. The size comes from the
    file's ``imageHeight``/``imageWidth``; ``shape`` (H, W) is used when the file has none and
    must agree with it when it has. Shapes with other labels are ignored.
    """
    import cv2

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
    shift = 4  # sub-pixel vertex precision for cv2 drawing (1/16 pixel)
    for i, s in enumerate(doc["shapes"]):
        if not isinstance(s, dict) or s.get("label") not in labels:
            continue
        kind = s.get("shape_type") or "polygon"
        try:
            pts = np.asarray(s["points"], np.float64).reshape(-1, 2)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: shape {i} has no valid 'points'") from exc
        if not np.all(np.isfinite(pts)):
            raise ValueError(f"{path}: shape {i} has non-finite points")
        fixed = np.round(pts * (1 << shift)).astype(np.int32)
        if kind == "polygon":
            if len(pts) < 3:
                raise ValueError(f"{path}: polygon {i} has fewer than 3 points")
            cv2.fillPoly(mask, [fixed], 1, cv2.LINE_8, shift)
        elif kind == "rectangle":
            if len(pts) != 2:
                raise ValueError(f"{path}: rectangle {i} needs 2 points, has {len(pts)}")
            (x0, y0), (x1, y1) = fixed
            corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.int32)
            cv2.fillPoly(mask, [corners], 1, cv2.LINE_8, shift)
        elif kind == "circle":
            if len(pts) != 2:
                raise ValueError(f"{path}: circle {i} needs 2 points, has {len(pts)}")
            r = round(float(np.hypot(*(pts[1] - pts[0]))) * (1 << shift))
            cv2.circle(mask, (int(fixed[0, 0]), int(fixed[0, 1])), r, 1, -1, cv2.LINE_8, shift)
        else:
            raise ValueError(f"{path}: shape {i} has unsupported shape_type {kind!r} for a mask")
    return mask.astype(bool)
