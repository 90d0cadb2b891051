"""The ground the camera sees, rendered once per scene: a world-space texture (grass or
asphalt, road with lane marks and a zebra crossing, tiled paving clipped to the walkable area,
manhole covers and drain grates, painted markings, planter soil) warped into the image."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from pympas.synth.camera import Camera
from pympas.synth.raster import SCALE, SHIFT
from pympas.synth.scenarios import Scenario


def ground_map(
    sc: Scenario, cam: Camera, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """World-space ground texture and the homography from map pixels to image pixels."""
    # the ground the camera sees (image border back-projected, at most 90 m from the target)
    hinv = np.linalg.inv(cam.ground_homography())
    u = np.linspace(0, cam.width, 17)
    v = np.linspace(0, cam.height, 13)
    border = np.concatenate(
        [
            np.stack([u, np.zeros_like(u)], 1),
            np.stack([u, np.full_like(u, cam.height)], 1),
            np.stack([np.zeros_like(v), v], 1),
            np.stack([np.full_like(v, cam.width), v], 1),
        ]
    )
    g = np.column_stack([border, np.ones(len(border))]) @ hinv.T
    tgt = np.asarray(cam.target)
    with np.errstate(divide="ignore", invalid="ignore"):
        gp = g[:, :2] / g[:, 2:3]
    d = gp - tgt
    dist = np.linalg.norm(d, axis=1)
    bad = ~(g[:, 2] > 0) | ~(dist < 90)
    gp[bad] = tgt + 90 * np.nan_to_num(np.sign(g[bad, 2:3]) * d[bad] / (dist[bad, None] + 1e-9))
    view = np.concatenate([gp, np.array(sc.view, dtype=np.float64)])
    lo = view.min(axis=0) - 3.0
    hi = view.max(axis=0) + 3.0
    ppm = float(min(40.0, 3000.0 / max(hi - lo)))
    mw, mh = int((hi[0] - lo[0]) * ppm), int((hi[1] - lo[1]) * ppm)

    def px(p) -> np.ndarray:  # world (..., 2) -> map pixels, y flipped (north up)
        p = np.asarray(p, dtype=np.float64)
        return np.stack([(p[..., 0] - lo[0]) * ppm, (hi[1] - p[..., 1]) * ppm], axis=-1)

    def ipx(p) -> np.ndarray:
        return np.round(px(p) * SCALE).astype(np.int32)

    grain = rng.normal(0, 1, (mh // 2 + 1, mw // 2 + 1)).astype(np.float32)
    grain = cv2.resize(cv2.GaussianBlur(grain, (0, 0), 1.0), (mw, mh))
    if sc.outside == "grass":
        base = np.array([60, 120, 85], np.float32)
        img = base + grain[..., None] * np.array([12, 22, 14], np.float32)
    else:
        base = np.array([88, 92, 95], np.float32)
        img = base + grain[..., None] * 9.0
    img = np.clip(img, 0, 255).astype(np.uint8)

    if sc.road is not None:
        (a, b), wd = np.array(sc.road), sc.road_width
        cv2.line(img, *map(tuple, ipx([a, b])), (70, 72, 74), int(wd * ppm), cv2.LINE_AA, SHIFT)
        d = (b - a) / np.linalg.norm(b - a)
        nrm = np.array([-d[1], d[0]])
        for off in (-wd / 2 + 0.2, wd / 2 - 0.2):
            q = ipx([a + off * nrm, b + off * nrm])
            cv2.line(
                img,
                tuple(q[0]),
                tuple(q[1]),
                (210, 210, 210),
                max(1, int(0.12 * ppm)),
                cv2.LINE_AA,
                SHIFT,
            )
        length = np.linalg.norm(b - a)
        for s in np.arange(0, length, 6.0):
            q = ipx([a + s * d, a + (s + 3.0) * d])
            cv2.line(
                img,
                tuple(q[0]),
                tuple(q[1]),
                (220, 230, 235),
                max(1, int(0.14 * ppm)),
                cv2.LINE_AA,
                SHIFT,
            )

    # paving: tiles with per-tile brightness and dark joints, clipped to the walkable area
    walk = np.zeros((mh, mw), np.uint8)
    shell, *holes = sc.walkable
    cv2.fillPoly(walk, [ipx(shell)], 255, cv2.LINE_8, SHIFT)
    for hole in holes:
        cv2.fillPoly(walk, [ipx(hole)], 0, cv2.LINE_8, SHIFT)
    tile = float(rng.choice([0.5, 0.6, 0.8]))
    nx, ny = int(mw / (tile * ppm)) + 2, int(mh / (tile * ppm)) + 2
    tint = rng.uniform(0.82, 1.12, (ny, nx)).astype(np.float32)
    tint = cv2.resize(
        tint, (int(nx * tile * ppm), int(ny * tile * ppm)), interpolation=cv2.INTER_NEAREST
    )[:mh, :mw]
    pave = np.array(rng.choice([[150, 160, 168], [140, 150, 165], [165, 165, 160]]), np.float32)
    pav = pave * tint[..., None] + grain[..., None] * 6.0
    step = tile * ppm
    joint = max(1, round(0.02 * ppm))
    for x in np.arange(0, mw, step):
        pav[:, int(x) : int(x) + joint] *= 0.5
    for y in np.arange(0, mh, step):
        pav[int(y) : int(y) + joint, :] *= 0.5
    pav = np.clip(pav, 0, 255).astype(np.uint8)
    np.copyto(img, pav, where=walk[..., None] > 0)
    cv2.polylines(
        img, [ipx(shell)], True, (185, 190, 190), max(1, int(0.25 * ppm)), cv2.LINE_AA, SHIFT
    )
    for hole in holes:
        cv2.polylines(
            img, [ipx(hole)], True, (185, 190, 190), max(1, int(0.25 * ppm)), cv2.LINE_AA, SHIFT
        )

    # decals with strong corners on the walkable ground: manhole covers and drain grates
    ys, xs = np.nonzero(walk[:: int(ppm), :: int(ppm)])
    n_dec = len(ys) // 15
    for k in rng.choice(len(ys), size=min(n_dec, len(ys)), replace=False):
        c = np.array([xs[k], ys[k]], np.float64) * int(ppm)
        if rng.random() < 0.5:  # manhole: dark square with a light cross-hatch
            half = 0.35 * ppm
            p0, p1 = tuple((c - half).astype(int)), tuple((c + half).astype(int))
            cv2.rectangle(img, p0, p1, (55, 58, 60), -1)
            for t in np.linspace(-half, half, 5)[1:-1]:
                cv2.line(
                    img,
                    (int(c[0] + t), p0[1]),
                    (int(c[0] + t), p1[1]),
                    (120, 125, 128),
                    max(1, int(0.04 * ppm)),
                )
                cv2.line(
                    img,
                    (p0[0], int(c[1] + t)),
                    (p1[0], int(c[1] + t)),
                    (120, 125, 128),
                    max(1, int(0.04 * ppm)),
                )
        else:  # drain grate: a dark slotted bar
            hx, hy = 0.45 * ppm, 0.15 * ppm
            cv2.rectangle(
                img,
                (int(c[0] - hx), int(c[1] - hy)),
                (int(c[0] + hx), int(c[1] + hy)),
                (35, 35, 38),
                -1,
            )
            for t in np.linspace(-hx, hx, 7)[1:-1]:
                cv2.line(
                    img,
                    (int(c[0] + t), int(c[1] - hy)),
                    (int(c[0] + t), int(c[1] + hy)),
                    (140, 145, 150),
                    max(1, int(0.05 * ppm)),
                )
    if sc.road is not None:  # a zebra crossing where the road is nearest the view centre
        (a, b), wd = np.array(sc.road), sc.road_width
        d = (b - a) / np.linalg.norm(b - a)
        nrm = np.array([-d[1], d[0]])
        s0 = float(np.dot(np.asarray(cam.target) - a, d)) + rng.uniform(-6, 6)
        for i in range(-4, 5):
            m = a + (s0 + i * 1.0) * d
            quad = [
                m - 0.25 * d - (wd / 2 - 0.6) * nrm,
                m + 0.25 * d - (wd / 2 - 0.6) * nrm,
                m + 0.25 * d + (wd / 2 - 0.6) * nrm,
                m - 0.25 * d + (wd / 2 - 0.6) * nrm,
            ]
            cv2.fillConvexPoly(img, ipx(quad), (225, 230, 232), cv2.LINE_AA, SHIFT)

    for line, wd, dashed in sc.markings:
        pts = np.asarray(line, dtype=np.float64)
        col = (235, 240, 240) if not dashed else (60, 200, 230)
        for p, q in itertools.pairwise(pts):
            seg = np.linalg.norm(q - p)
            ranges = (
                [(s, min(s + 1.0, seg)) for s in np.arange(0, seg, 2.0)] if dashed else [(0, seg)]
            )
            d = (q - p) / seg
            for s0, s1 in ranges:
                r = ipx([p + s0 * d, p + s1 * d])
                cv2.line(
                    img,
                    tuple(r[0]),
                    tuple(r[1]),
                    col,
                    max(1, int(wd * ppm)),
                    cv2.LINE_AA,
                    SHIFT,
                )
    for (cx, cy), r, wd in sc.circles:
        c = ipx([cx, cy])
        cv2.circle(
            img,
            tuple(c),
            int(r * ppm * SCALE),
            (230, 235, 235),
            max(1, int(wd * ppm)),
            cv2.LINE_AA,
            SHIFT,
        )
    for x0, y0, x1, y1 in sc.planters:  # soil under the planter boxes
        cv2.rectangle(
            img, tuple(ipx([x0, y1])), tuple(ipx([x1, y0])), (40, 60, 70), -1, cv2.LINE_8, SHIFT
        )

    m = np.array([[1 / ppm, 0, lo[0]], [0, -1 / ppm, hi[1]], [0, 0, 1]])  # map px -> world
    return img, cam.ground_homography() @ m


def ground_image(sc: Scenario, cam: Camera, rng: np.random.Generator) -> np.ndarray:
    """The ground map warped into the image (H, W, 3) uint8 BGR, the far region above the
    horizon (or beyond 120 m) painted as a hazy wall."""
    gmap, hmap = ground_map(sc, cam, rng)
    img = cv2.warpPerspective(gmap, hmap, (cam.width, cam.height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    # the sky/far region (rays above the horizon) becomes a hazy wall
    h_inv = np.linalg.inv(cam.ground_homography())
    vv = np.arange(cam.height, dtype=np.float64)
    w = h_inv[2, 0] * (cam.width / 2) + h_inv[2, 1] * vv + h_inv[2, 2]
    far = np.zeros(cam.height, bool)
    for i, v in enumerate(vv):
        g = h_inv @ np.array([cam.width / 2, v, 1.0])
        far[i] = w[i] <= 0 or np.hypot(*(g[:2] / g[2] - cam.target)) > 120
    img[far] = (150, 150, 140)
    return img
