"""Things that are not people: static clutter (benches, lamp poles, bins, planters, fences)
and cars -- their drawing items, the silhouettes that occlude people, and their shadows."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from pympas.synth.camera import Camera
from pympas.synth.raster import SCALE, SHIFT, to_fixed
from pympas.synth.scenarios import Scenario

_CARS = np.array([[40, 40, 180], [200, 200, 200], [30, 30, 30], [150, 90, 30], [60, 60, 60],
                  [200, 210, 220], [40, 140, 200]], dtype=np.float32)  # fmt: skip


def car_colour(rng: np.random.Generator) -> np.ndarray:
    """A random car body colour (3,) BGR from the car palette."""
    return _CARS[rng.integers(len(_CARS))]


def _box(c: np.ndarray, ax: np.ndarray, ay: np.ndarray, z0: float, z1: float) -> np.ndarray:
    """8 corners (8, 3) of a box centred at ground point ``c`` with half-axes ``ax``, ``ay``."""
    out = []
    for z in (z0, z1):
        for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            p = c + sx * ax + sy * ay
            out.append((p[0], p[1], z))
    return np.array(out)


@dataclass
class Static:
    """A static object: its depth and the silhouette primitives (image coordinates) that
    occlude people behind it."""

    depth: float
    polys: list[np.ndarray]
    lines: list[tuple[np.ndarray, np.ndarray, int]]


def build_statics(
    sc: Scenario, cam: Camera, sun: np.ndarray, shadow: np.ndarray
) -> tuple[list[Static], list[tuple[float, list]]]:
    """Project the scenario's static objects: returns their occluding :class:`Static`
    silhouettes and their drawing items ``(depth, [(kind, pts, colour, extra)])`` sorted far to
    near (for :func:`draw_statics`); draws their ground shadows into ``shadow`` (H, W) uint8."""
    statics: list[Static] = []
    draw: list[tuple[float, list]] = []  # depth, [(kind, pts, colour, extra)]

    def add_box(items, c, ax, ay, z0, z1, side, top):
        corners = _box(np.asarray(c, float), np.asarray(ax, float), np.asarray(ay, float), z0, z1)
        uv, z = cam.project(corners)
        if np.any(~(z > 0.3)):
            return None
        hull = cv2.convexHull(to_fixed(uv))
        items.append(("poly", hull, side))
        items.append(("poly", to_fixed(uv[4:]).reshape(-1, 1, 2), top))
        items.append(("outline", hull, tuple(0.5 * np.asarray(side))))
        sh = corners[:, :2] + corners[:, 2:3] * sun
        suv, sz = cam.project(np.column_stack([sh, np.zeros(8)]))
        if np.all(sz > 0.3):
            cv2.fillConvexPoly(shadow, cv2.convexHull(to_fixed(suv)), 255, cv2.LINE_8, SHIFT)
        return hull

    def add_pole(items, p, h, r, col):
        a, b = np.array([p[0], p[1], 0.0]), np.array([p[0], p[1], h])
        uv, z = cam.project(np.stack([a, b]))
        if np.any(~(z > 0.3)):
            return None
        t = max(1, round(2 * r * cam.focal / z.mean()))
        items.append(("line", to_fixed(uv), col, t))
        s = np.array([p[0] + h * sun[0], p[1] + h * sun[1], 0.0])
        suv, sz = cam.project(np.stack([a, s]))
        if np.all(sz > 0.3):
            p0, p1 = to_fixed(suv)
            cv2.line(shadow, tuple(p0), tuple(p1), 255, t, cv2.LINE_8, SHIFT)
        return (to_fixed(uv), t)

    def finish(items, ground_pt, polys, lines):
        _, z = cam.project(np.array([[ground_pt[0], ground_pt[1], 0.0]]))
        if items and z[0] > 0.3:
            draw.append((float(z[0]), items))
            statics.append(Static(float(z[0]), polys, lines))

    for x, y, ang in sc.benches:
        a = math.radians(ang)
        ax, ay = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
        items, polys, lines = [], [], []
        for s in (-0.65, 0.65):
            polys.append(
                add_box(
                    items,
                    (x, y) + s * ax,
                    0.05 * ax,
                    0.2 * ay,
                    0,
                    0.42,
                    (50, 50, 55),
                    (70, 70, 75),
                )
            )
        polys.append(
            add_box(items, (x, y), 0.85 * ax, 0.22 * ay, 0.4, 0.47, (40, 70, 110), (70, 120, 170))
        )
        polys.append(
            add_box(
                items,
                (x, y) + 0.22 * ay,
                0.85 * ax,
                0.03 * ay,
                0.55,
                0.9,
                (40, 70, 110),
                (70, 120, 170),
            )
        )
        finish(items, (x, y), [p for p in polys if p is not None], lines)
    for x, y in sc.poles:
        items, polys, lines = [], [], []
        ln = add_pole(items, (x, y), 4.0, 0.07, (45, 45, 50))
        if ln is not None:
            lines.append((ln[0], None, ln[1]))
        polys.append(
            add_box(
                items,
                (x, y),
                np.array([0.25, 0]),
                np.array([0, 0.12]),
                3.9,
                4.1,
                (40, 40, 40),
                (200, 220, 230),
            )
        )
        finish(items, (x, y), [p for p in polys if p is not None], lines)
    for x, y in sc.bins:
        items = []
        p = add_box(
            items,
            (x, y),
            np.array([0.25, 0]),
            np.array([0, 0.25]),
            0,
            0.9,
            (30, 80, 40),
            (20, 40, 25),
        )
        finish(items, (x, y), [p] if p is not None else [], [])
    for x0, y0, x1, y1 in sc.planters:
        items = []
        c = ((x0 + x1) / 2, (y0 + y1) / 2)
        p = add_box(
            items,
            c,
            np.array([(x1 - x0) / 2, 0]),
            np.array([0, (y1 - y0) / 2]),
            0,
            0.5,
            (120, 130, 140),
            (50, 120, 60),
        )
        finish(items, c, [p] if p is not None else [], [])
    for fence in sc.barriers:
        pts = np.asarray(fence, dtype=np.float64)
        for p, q in itertools.pairwise(pts):
            n = max(1, int(np.ceil(np.linalg.norm(q - p) / 1.0)))
            for i in range(n):
                a, b = p + (q - p) * i / n, p + (q - p) * (i + 1) / n
                items, lines = [], []
                ln = add_pole(items, a, 1.05, 0.04, (60, 60, 60))
                if ln is not None:
                    lines.append((ln[0], None, ln[1]))
                for hgt, col in ((1.0, (170, 175, 180)), (0.55, (150, 155, 160))):
                    uv, z = cam.project(np.array([[a[0], a[1], hgt], [b[0], b[1], hgt]]))
                    if np.all(z > 0.3):
                        t = max(1, round(0.06 * cam.focal / z.mean()))
                        items.append(("line", to_fixed(uv), col, t))
                        lines.append((to_fixed(uv), None, t))
                m = (a + b) / 2
                finish(items, m, [], lines)
    draw.sort(key=lambda t: -t[0])
    return statics, draw


def draw_statics(img: np.ndarray, draw: list[tuple[float, list]]) -> None:
    """Draw the static objects' items (from :func:`build_statics`) into ``img``, far to near."""
    for _, items in draw:
        for kind, pts, col, *extra in items:
            if kind == "poly":
                cv2.fillConvexPoly(img, pts, col, cv2.LINE_8, SHIFT)
            elif kind == "outline":
                cv2.polylines(img, [pts], True, col, 1, cv2.LINE_8, SHIFT)
            else:
                cv2.line(img, tuple(pts[0]), tuple(pts[1]), col, extra[0], cv2.LINE_8, SHIFT)


def car_geometry(car: dict, cam: Camera, sun: np.ndarray, shadow: np.ndarray):
    """A car's ground depth and label primitives ``[(label offset, primitive)]`` (offset 1 body,
    2 windows, 3 wheels), or None when it is behind the camera; draws its shadow into
    ``shadow``."""
    c, d = np.asarray(car["xy"], float), np.asarray(car["dir"], float)
    n = np.array([-d[1], d[0]])
    body = _box(c, 2.2 * d, 0.9 * n, 0.3, 1.0)
    cabin = _box(c - 0.3 * d, 1.2 * d, 0.78 * n, 1.0, 1.45)
    uvb, zb = cam.project(body)
    uvc, zc = cam.project(cabin)
    if np.any(~(zb > 0.5)) or np.any(~(zc > 0.5)):
        return None
    prims = []
    for sx in (-1.4, 1.4):
        for sy in (-0.85, 0.85):
            wp = np.array([[*(c + sx * d + sy * n), 0.33]])
            uv, z = cam.project(wp)
            r = int(0.33 * cam.focal / z[0] * SCALE)
            prims.append((3, ("circle", tuple(to_fixed(uv[0])), r)))
    prims.append((1, ("poly", cv2.convexHull(to_fixed(uvb)))))
    prims.append((2, ("poly", cv2.convexHull(to_fixed(uvc)))))
    prims.append((1, ("poly", to_fixed(uvc[4:]).reshape(-1, 1, 2))))
    sh = np.column_stack([body[:, :2] + body[:, 2:3] * sun, np.zeros(8)])
    suv, sz = cam.project(sh)
    if np.all(sz > 0.3):
        cv2.fillConvexPoly(shadow, cv2.convexHull(to_fixed(suv)), 255, cv2.LINE_8, SHIFT)
    _, zc0 = cam.project(np.array([[c[0], c[1], 0.0]]))
    return float(zc0[0]), prims
