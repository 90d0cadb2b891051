"""labelme annotations (the paper's ground truth was drawn with labelme) filled into masks, pixel
for pixel as labelme's own conversion fills them.

labelme turns its shapes into masks with ``labelme.utils.shapes_to_label`` (what
``labelme_json_to_dataset`` and the usual export scripts call): every shape is drawn with Pillow
(``labelme.utils.shape_to_mask``), in file order, onto a label image where a later shape
overwrites an earlier one. :func:`labelme_mask` does the same without importing labelme, with
the same Pillow calls:

- ``polygon`` (also no ``shape_type``) and ``oriented_rectangle`` (4 points):
  ``ImageDraw.polygon(points, outline=1, fill=1)``: Pillow's scanline fill with the outline
  painted too, so the pixels the boundary passes through are inside (where pympas used to take
  pixel centres only); self-intersecting polygons fill by the even-odd rule;
- ``rectangle`` (2 corners): ``ImageDraw.rectangle`` between the smaller and the larger corner,
  both included (Pillow truncates the coordinates towards zero);
- ``circle`` (centre, a point on the rim): ``ImageDraw.ellipse`` of the bounding box
  centre +- radius (truncated towards zero), outline included;
- ``line`` (2 points) and ``linestrip``: ``ImageDraw.line`` 10 pixels wide;
  ``point``: a disc of radius 5 (``ImageDraw.ellipse``), as labelme fills them;
- ``mask``: the shape's base64 PNG mask placed at its top-left point.

A shape whose label is not the one asked for still paints: it overwrites the crowd under it with
background, exactly as in labelme's label image. So holes are drawn as several shapes (a
``background`` polygon after the ``crowd`` polygon around it), and the crowd mask is where the
last shape painting a pixel has the crowd label.

Where this differs from labelme (``tests/test_labelme_parity.py`` compares the two on every
shape kind, concave and self-intersecting polygons, holes and odd image sizes):

- nowhere for shapes whose coordinates all lie within :data:`EXACT_LIMIT` (2^23, about 8.4e6)
  pixels of the origin, and circles and points whose box (centre +- radius) lies within
  :data:`EXACT_LIMIT_CIRCLE` (2^18 = 262144);
- beyond those limits labelme's own drawing becomes unreliable (Pillow loses the edges past
  about 1e8 pixels and wraps around past 2^31; a circle of radius 1e6 takes it half a minute),
  so pympas first reduces such a shape to its part near the image: polygons are clipped and
  line segments cut in floating point to the image grown by 2^22 pixels, rectangles are clamped
  to it, circles are filled by the rule "pixel centre within the radius". The reduced shape has
  the same edges inside the image, but Pillow may rasterize them a pixel differently along those
  edges (the far end points of an edge move, and Pillow rounds end points), and a circle's rim
  may differ by a pixel from Pillow's ellipse.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import json
import math
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EXACT_LIMIT", "EXACT_LIMIT_CIRCLE", "labelme_mask"]

#: largest vertex coordinate accepted (beyond it differences of coordinates could overflow)
MAX_COORDINATE = 1e150
#: shapes whose every coordinate lies within +- this many pixels are drawn exactly as labelme
#: draws them (directly with Pillow; its drawing is exact up to about 1e7 pixels); farther ones
#: are first reduced to their part near the image
EXACT_LIMIT = 2.0**23
#: the same for circles (and points): Pillow takes seconds for a radius past about 5e5 pixels
EXACT_LIMIT_CIRCLE = 2.0**18
#: far shapes are reduced to the image grown by this many pixels on every side (within the
#: limit, so that Pillow draws the reduced shape exactly)
_MARGIN = 2.0**22
#: labelme's ``shape_to_mask`` defaults
LINE_WIDTH = 10
POINT_SIZE = 5
#: shape types and their number of points (None: any number, at least the minimum given)
_POINTS = {
    "polygon": (3, None),
    "oriented_rectangle": (4, 4),
    "rectangle": (2, 2),
    "circle": (2, 2),
    "line": (2, 2),
    "linestrip": (2, None),
    "point": (1, 1),
    "mask": (2, 2),
}


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


def _box(w: int, h: int) -> tuple[float, float, float, float]:
    """The image grown by ``_MARGIN``: x0, y0, x1, y1."""
    return -_MARGIN, -_MARGIN, w - 1 + _MARGIN, h - 1 + _MARGIN


def _clip_polygon(pts: np.ndarray, w: int, h: int) -> list[tuple[float, float]]:
    """The polygon ``pts`` (n, 2) clipped, in float64, to the image grown by ``_MARGIN``; the
    even-odd inside of every point of that box is kept (the box is convex)."""
    x0, y0, x1, y1 = _box(w, h)
    poly = [(float(x), float(y)) for x, y in pts]
    for axis, bound, below in ((0, x0, False), (0, x1, True), (1, y0, False), (1, y1, True)):
        poly = _clip_half_plane(poly, axis, bound, below)
        if not poly:
            break
    return poly


def _clip_segment(
    a: np.ndarray, b: np.ndarray, w: int, h: int
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The part of segment a-b inside the image grown by ``_MARGIN`` (Liang-Barsky), or None."""
    x0, y0, x1, y1 = _box(w, h)
    d = b - a
    lo, hi = 0.0, 1.0
    for p, q in ((-d[0], a[0] - x0), (d[0], x1 - a[0]), (-d[1], a[1] - y0), (d[1], y1 - a[1])):
        if p == 0:
            if q < 0:
                return None
            continue
        t = q / p
        if p < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo > hi:
            return None
    pa, pb = a + lo * d, a + hi * d
    return (float(pa[0]), float(pa[1])), (float(pb[0]), float(pb[1]))


def _fill_circle_exact(mask: np.ndarray, centre: np.ndarray, r2: float, ink: int) -> None:
    """Pixels whose centre lies within the circle (exact, in float64)."""
    h, w = mask.shape
    dx2 = (np.arange(w, dtype=np.float64) - float(centre[0])) ** 2
    dy2 = (np.arange(h, dtype=np.float64) - float(centre[1])) ** 2
    mask[dy2[:, None] + dx2[None, :] <= r2] = ink


def _decode_mask(text: Any, where: str) -> np.ndarray:
    """A ``mask`` shape's base64 PNG as an (h, w) bool array (labelme's img_b64_to_arr)."""
    import PIL.Image

    if not isinstance(text, str):
        raise ValueError(f"{where}: 'mask' must be a base64-encoded PNG")
    try:
        with PIL.Image.open(io.BytesIO(base64.b64decode(text, validate=True))) as img:
            arr = np.array(img).astype(bool)
    except (binascii.Error, OSError, ValueError) as exc:
        raise ValueError(f"{where}: 'mask' is not a base64-encoded image ({exc})") from exc
    if arr.ndim != 2:
        raise ValueError(f"{where}: 'mask' must be a one-channel image, got shape {arr.shape}")
    return arr


def _draw(
    image: Any, shape: dict[str, Any], kind: str, pts: np.ndarray, ink: int, where: str
) -> Any:
    """Paint one shape with value ``ink`` on the Pillow "L" ``image`` as labelme's
    ``shape_to_mask`` paints it (see the module docstring); returns the image."""
    import PIL.Image
    import PIL.ImageDraw

    w, h = image.size
    draw = PIL.ImageDraw.Draw(image)
    xy = [(float(x), float(y)) for x, y in pts]
    if kind == "circle" or kind == "point":
        (cx, cy) = xy[0]
        if kind == "circle":  # labelme's arithmetic, so that the box is the same to the bit
            (px, py) = xy[1]
            r = math.sqrt((cx - px) ** 2 + (cy - py) ** 2)
        else:
            r = POINT_SIZE
        box = (cx - r, cy - r, cx + r, cy + r)
        if max(abs(v) for v in box) <= EXACT_LIMIT_CIRCLE:
            draw.ellipse((box[:2], box[2:]), outline=ink, fill=ink)
            return image
        if box[2] < -1 or box[3] < -1 or box[0] > w or box[1] > h:
            return image  # wholly outside the image: nothing of it is painted
        arr = np.array(image)
        _fill_circle_exact(arr, pts[0], r * r, ink)
        return PIL.Image.fromarray(arr)
    exact = float(np.abs(pts).max()) <= EXACT_LIMIT
    if kind in ("polygon", "oriented_rectangle"):
        poly = xy if exact else _clip_polygon(pts, w, h)
        if len(poly) >= 3:  # a clipped polygon wholly outside the box has no points left
            draw.polygon(poly, outline=ink, fill=ink)
    elif kind == "rectangle":
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        if not exact:
            bx0, by0, bx1, by1 = _box(w, h)
            lo = np.clip(lo, [bx0, by0], [bx1, by1])
            hi = np.clip(hi, [bx0, by0], [bx1, by1])
        draw.rectangle(((lo[0], lo[1]), (hi[0], hi[1])), outline=ink, fill=ink)
    elif kind in ("line", "linestrip"):
        if exact:
            draw.line(xy, fill=ink, width=LINE_WIDTH)
        else:
            for a, b in itertools.pairwise(pts):
                seg = _clip_segment(a, b, w, h)
                if seg is not None:
                    draw.line(list(seg), fill=ink, width=LINE_WIDTH)
    elif kind == "mask":
        sub = _decode_mask(shape.get("mask"), where)
        (x1, y1), (x2, y2) = pts.astype(int)
        if not (0 <= x1 <= x2 < w and 0 <= y1 <= y2 < h) or sub.shape != (y2 - y1 + 1, x2 - x1 + 1):
            raise ValueError(
                f"{where}: mask of {sub.shape[1]}x{sub.shape[0]} pixels does not fit its box "
                f"({x1},{y1})-({x2},{y2}) inside the {w}x{h} image"
            )
        arr = np.array(image)
        arr[y1 : y2 + 1, x1 : x2 + 1][sub] = ink
        return PIL.Image.fromarray(arr)
    return image


def labelme_mask(
    path: str | os.PathLike,
    label: str | Iterable[str] = "crowd",
    shape: tuple[int, int] | None = None,
    found: Counter | None = None,
) -> np.ndarray:
    """The (H, W) bool mask of label ``label`` in a labelme JSON file, as labelme's
    ``shapes_to_label`` makes it: every shape drawn in file order with Pillow, a later shape
    overwriting an earlier one (see the module docstring for each shape type and the one
    difference, for shapes beyond :data:`EXACT_LIMIT` pixels).

    The size comes from the file's ``imageHeight``/``imageWidth``; ``shape`` (H, W) is used when
    the file has none and must agree with it when it has. ``label`` may be several labels, all
    counted as crowd. ``found`` (a Counter), if given, counts the shapes of every label in the
    file, so that a caller can tell a label that matches nothing (``"Crowd"`` for ``"crowd"``)
    from an empty annotation.

    Raises:
        ValueError: naming the file (and the shape by its index) if it is unreadable, not a
            labelme annotation, of another size, or has a shape with missing, non-finite or
            too few points, or of a shape_type labelme cannot fill.
    """
    import PIL.Image

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
    image = PIL.Image.fromarray(np.zeros((int(h), int(w)), np.uint8))
    for i, s in enumerate(doc["shapes"]):
        if not isinstance(s, dict):
            raise ValueError(f"{path}: shape {i} is not an object")
        if found is not None:
            found[str(s.get("label"))] += 1
        kind = s.get("shape_type") or "polygon"
        if kind not in _POINTS:
            raise ValueError(
                f"{path}: shape {i} has unsupported shape_type {kind!r} for a mask (labelme "
                f"fills {', '.join(sorted(_POINTS))})"
            )
        try:
            pts = np.asarray(s["points"], np.float64).reshape(-1, 2)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: shape {i} has no valid 'points'") from exc
        if not np.all(np.isfinite(pts)) or np.any(np.abs(pts) > MAX_COORDINATE):
            raise ValueError(
                f"{path}: shape {i} has points that are not finite or beyond +-{MAX_COORDINATE:g}"
            )
        least, most = _POINTS[kind]
        if len(pts) < least or (most is not None and len(pts) > most):
            if kind == "polygon":
                raise ValueError(f"{path}: polygon {i} has fewer than 3 points")
            needs = f"{least}" if least == most else f"at least {least}"
            raise ValueError(f"{path}: {kind} {i} needs {needs} points, has {len(pts)}")
        ink = 1 if s.get("label") in labels else 0
        image = _draw(image, s, kind, pts, ink, f"{path}: shape {i}")
    return np.array(image, dtype=bool)
