"""OpenCV/NumPy renderer: people as articulated figures on a textured, cluttered ground.

Every frame is first drawn as a *label image* (H, W) uint16 in depth order (painter's
algorithm): 0 shows the background (ground and static clutter, rendered once), 1 to
PERSON0 - 1 the parts of cars (body, windows, wheels: three labels per car), and
``PERSON0 + 8 * slot + part`` the parts of the person in ``slot``. Colours and clothing
textures are then filled in from per-label tables in one vectorised pass, so the
ground-truth mask (``labels >= PERSON0``) is exactly the set of pixels where a person is drawn,
including occlusion by cars and static objects in front of them. Degradations (soft shadows,
lighting flicker, optical blur, sensor noise, JPEG compression) act on colours only.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from pympas.synth.camera import Camera
from pympas.synth.scenarios import FPS, Scenario, Trajectories

MAX_CARS = 4  # cars with their own colour in one frame
PERSON0 = 1 + 3 * MAX_CARS  # first person label; car k has body, windows, wheels 1+3k..3+3k
SHIFT = 3  # sub-pixel bits for cv2 drawing
_S = float(1 << SHIFT)

# part indices (label = PERSON0 + 8 * slot + part)
LEGS, TORSO, ARMS, SKIN, HAIR, SHOES = range(6)

_SHIRTS = np.array(
    [
        [40, 40, 45],
        [230, 230, 228],
        [35, 45, 120],
        [40, 40, 170],
        [120, 120, 120],
        [150, 180, 200],
        [50, 110, 50],
        [170, 120, 40],
        [40, 170, 220],
        [70, 50, 110],
        [200, 200, 80],
        [90, 60, 150],
        [30, 90, 200],
        [180, 160, 150],
        [60, 140, 140],
        [160, 60, 40],
    ],
    dtype=np.float32,
)  # BGR, fmt: skip
_NEUTRAL = np.array(
    [
        [30, 30, 32],
        [60, 60, 62],
        [70, 40, 30],
        [225, 225, 222],
        [140, 170, 190],
        [40, 60, 80],
        [50, 80, 70],
        [100, 100, 105],
    ],
    dtype=np.float32,
)  # black, grey, navy, white, beige, brown, olive, mid grey; fmt: skip
_TROUSERS = np.array(
    [[110, 70, 40], [35, 35, 35], [80, 80, 85], [110, 150, 170], [40, 50, 70], [140, 100, 60],
     [60, 60, 60], [150, 150, 150]], dtype=np.float32,
)  # fmt: skip
_SKIN = np.array([[170, 190, 230], [140, 165, 210], [110, 140, 190], [80, 105, 150], [55, 75, 110]],
                 dtype=np.float32)  # fmt: skip
_HAIR = np.array([[20, 20, 25], [30, 45, 70], [50, 80, 120], [120, 170, 200], [150, 150, 150]],
                 dtype=np.float32)  # fmt: skip
_CARS = np.array([[40, 40, 180], [200, 200, 200], [30, 30, 30], [150, 90, 30], [60, 60, 60],
                  [200, 210, 220], [40, 140, 200]], dtype=np.float32)  # fmt: skip


@dataclass
class Appearance:
    """Per-person look, arrays indexed like ``ids`` (P,): body ``height`` and ``build`` (m,
    width factor), colours (P, 3) BGR for shirt, trousers, skin, hair, the shirt ``pattern``
    (0 plain, 1 horizontal stripes, 2 vertical stripes, 3 checks), its ``period`` (m) and
    ``contrast``, gait ``stride`` (m per cycle) and ``phase0`` (rad)."""

    ids: np.ndarray
    height: np.ndarray
    build: np.ndarray
    shirt: np.ndarray
    trousers: np.ndarray
    skin: np.ndarray
    hair: np.ndarray
    pattern: np.ndarray
    period: np.ndarray
    contrast: np.ndarray
    stride: np.ndarray
    phase0: np.ndarray

    def index(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ids, ids)


def _pick(r: np.random.Generator, palette: np.ndarray) -> np.ndarray:
    return palette[r.integers(len(palette))]


def make_appearance(ids: np.ndarray, seed: int) -> Appearance:
    """Deterministic random looks for the people ``ids`` (one generator per id and seed)."""
    ids = np.unique(np.asarray(ids, dtype=np.int64))
    rows = []
    for i in ids:
        r = np.random.default_rng([seed, 11, int(i)])
        h = float(np.clip(r.normal(1.72, 0.08), 1.5, 1.95))
        jit = r.uniform(0.8, 1.15, 4)
        rows.append(
            (
                h,
                r.uniform(0.9, 1.15),
                np.clip(_pick(r, _SHIRTS if r.random() < 0.45 else _NEUTRAL) * jit[0], 0, 255),
                np.clip(_TROUSERS[r.integers(len(_TROUSERS))] * jit[1], 0, 255),
                _SKIN[r.integers(len(_SKIN))],
                np.clip(_HAIR[r.integers(len(_HAIR))] * jit[3], 0, 255),
                int(r.choice(4, p=[0.45, 0.25, 0.1, 0.2])),
                r.uniform(0.07, 0.16),
                r.uniform(0.35, 0.7),
                1.45 * h / 1.72 * r.uniform(0.9, 1.1),
                r.uniform(0, 2 * math.pi),
            )
        )
    if not rows:
        z1, z3 = np.zeros(0), np.zeros((0, 3), np.float32)
        return Appearance(ids, z1, z1, z3, z3, z3, z3, z1.astype(int), z1, z1, z1, z1)
    cols = list(zip(*rows, strict=True))
    return Appearance(
        ids,
        np.array(cols[0]),
        np.array(cols[1]),
        np.array(cols[2], np.float32),
        np.array(cols[3], np.float32),
        np.array(cols[4], np.float32),
        np.array(cols[5], np.float32),
        np.array(cols[6]),
        np.array(cols[7]),
        np.array(cols[8]),
        np.array(cols[9]),
        np.array(cols[10]),
    )


def gait_phase(traj: Trajectories, app: Appearance) -> np.ndarray:
    """Gait phase (N,) in radians: advances by 2 pi per stride of walked distance."""
    n = len(traj.ids)
    frame = np.repeat(np.arange(traj.n_frames), np.diff(traj.offsets))
    order = np.lexsort((frame, traj.ids))
    sid = traj.ids[order]
    step = traj.speed[order] / FPS
    new = np.r_[True, sid[1:] != sid[:-1]] if n else np.zeros(0, bool)
    cum = np.cumsum(step)
    start_cum = np.maximum.accumulate(np.where(new, cum - step, -np.inf)) if n else cum
    dist = cum - start_cum
    k = app.index(sid)
    phase = np.empty(n)
    phase[order] = app.phase0[k] + 2 * math.pi * dist / app.stride[k]
    return phase


# ----------------------------------------------------------------------------- primitives
def _pts(uv: np.ndarray) -> np.ndarray:
    return np.round(uv * _S).astype(np.int32)


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


class Renderer:
    """Renders one scene: background once, then :meth:`frame` per video frame."""

    def __init__(self, scenario: Scenario, camera: Camera, seed: int) -> None:
        self.sc = scenario
        self.cam = camera
        self.rng = np.random.default_rng([seed, 23])
        az = self.rng.uniform(0, 2 * math.pi)
        elev = math.radians(self.rng.uniform(40, 60))
        self.sun = -np.array([math.cos(az), math.sin(az)]) / math.tan(elev)  # shadow per m height
        self.statics: list[Static] = []
        self.background = self._background()
        h, w = camera.height, camera.width
        k = max(3, int(0.012 * w) | 1)
        self._shadow_ksize = (k, k)
        self._noise = []  # sensor noise bank: (positive, negative) uint8 parts, cropped per frame
        for _ in range(4):
            n = np.round(self.rng.normal(0, 2.5, (h + 32, w + 32, 3)))
            self._noise.append(
                (np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8))
            )
        self._flicker = self.rng.uniform(0, 2 * math.pi, 2)

    # ------------------------------------------------------------------------ background
    def _ground_map(self) -> tuple[np.ndarray, np.ndarray]:
        """World-space ground texture and the homography from map pixels to image pixels."""
        sc, rng = self.sc, self.rng
        # the ground the camera sees (image border back-projected, at most 90 m from the target)
        cam = self.cam
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
            return np.round(px(p) * _S).astype(np.int32)

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
            s0 = float(np.dot(np.asarray(self.cam.target) - a, d)) + rng.uniform(-6, 6)
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
                    [(s, min(s + 1.0, seg)) for s in np.arange(0, seg, 2.0)]
                    if dashed
                    else [(0, seg)]
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
                int(r * ppm * _S),
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
        return img, self.cam.ground_homography() @ m

    def _background(self) -> np.ndarray:
        cam = self.cam
        gmap, hmap = self._ground_map()
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
        shadow = np.zeros((cam.height, cam.width), np.uint8)
        self._build_statics(img, shadow)
        sh = cv2.GaussianBlur(shadow, (0, 0), 0.006 * cam.width + 0.5).astype(np.float32) / 255.0
        img = (img.astype(np.float32) * (1 - 0.45 * sh[..., None])).astype(np.uint8)
        # redraw the static objects over their own shadows
        self._draw_statics(img)
        return img

    def _build_statics(self, img: np.ndarray, shadow: np.ndarray) -> None:
        sc, cam = self.sc, self.cam
        self._static_draw: list[tuple[float, list]] = []  # depth, [(kind, pts, colour, extra)]

        def add_box(items, c, ax, ay, z0, z1, side, top):
            corners = _box(
                np.asarray(c, float), np.asarray(ax, float), np.asarray(ay, float), z0, z1
            )
            uv, z = cam.project(corners)
            if np.any(~(z > 0.3)):
                return None
            hull = cv2.convexHull(_pts(uv))
            items.append(("poly", hull, side))
            items.append(("poly", _pts(uv[4:]).reshape(-1, 1, 2), top))
            items.append(("outline", hull, tuple(0.5 * np.asarray(side))))
            sh = corners[:, :2] + corners[:, 2:3] * self.sun
            suv, sz = cam.project(np.column_stack([sh, np.zeros(8)]))
            if np.all(sz > 0.3):
                cv2.fillConvexPoly(shadow, cv2.convexHull(_pts(suv)), 255, cv2.LINE_8, SHIFT)
            return hull

        def add_pole(items, p, h, r, col):
            a, b = np.array([p[0], p[1], 0.0]), np.array([p[0], p[1], h])
            uv, z = cam.project(np.stack([a, b]))
            if np.any(~(z > 0.3)):
                return None
            t = max(1, round(2 * r * cam.focal / z.mean()))
            items.append(("line", _pts(uv), col, t))
            s = np.array([p[0] + h * self.sun[0], p[1] + h * self.sun[1], 0.0])
            suv, sz = cam.project(np.stack([a, s]))
            if np.all(sz > 0.3):
                p0, p1 = _pts(suv)
                cv2.line(shadow, tuple(p0), tuple(p1), 255, t, cv2.LINE_8, SHIFT)
            return (_pts(uv), t)

        def finish(items, ground_pt, polys, lines):
            _, z = cam.project(np.array([[ground_pt[0], ground_pt[1], 0.0]]))
            if items and z[0] > 0.3:
                self._static_draw.append((float(z[0]), items))
                self.statics.append(Static(float(z[0]), polys, lines))

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
                add_box(
                    items, (x, y), 0.85 * ax, 0.22 * ay, 0.4, 0.47, (40, 70, 110), (70, 120, 170)
                )
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
                            items.append(("line", _pts(uv), col, t))
                            lines.append((_pts(uv), None, t))
                    m = (a + b) / 2
                    finish(items, m, [], lines)
        self._static_draw.sort(key=lambda t: -t[0])

    def _draw_statics(self, img: np.ndarray) -> None:
        for _, items in self._static_draw:
            for kind, pts, col, *extra in items:
                if kind == "poly":
                    cv2.fillConvexPoly(img, pts, col, cv2.LINE_8, SHIFT)
                elif kind == "outline":
                    cv2.polylines(img, [pts], True, col, 1, cv2.LINE_8, SHIFT)
                else:
                    cv2.line(img, tuple(pts[0]), tuple(pts[1]), col, extra[0], cv2.LINE_8, SHIFT)

    # ------------------------------------------------------------------------ per frame
    def frame(
        self,
        index: int,
        people: dict[str, np.ndarray],
        cars: list[dict],
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Render one frame.

        ``people``: arrays over P people: ``xy`` (P, 2) m, ``heading`` (P, 2), ``speed`` (P,),
        ``phase`` (P,), and appearance rows (``height``, ``build``, ``shirt`` (P, 3) ...).
        ``cars``: dicts with ``xy`` (2,), ``dir`` (2,), ``colour`` (3,).
        Returns the frame (H, W, 3) uint8 BGR and the label image (H, W) uint16.
        """
        cam = self.cam
        h, w = cam.height, cam.width
        labels = np.zeros((h, w), np.uint16)
        shadow = np.zeros((h, w), np.uint8)
        p = len(people["xy"])
        kp, depth = self._keypoints(people) if p else (np.zeros((0, 20, 2)), np.zeros((0, 20)))
        foot_depth = depth[:, 0] if p else np.zeros(0)
        scale = cam.focal / np.where(depth > 0.1, depth, np.nan)  # px per metre at each keypoint

        # shadows of people: a thick ground line from the feet along the sun direction
        if p:
            tip = people["xy"] + self.sun * people["height"][:, None] * 0.85
            ends = np.concatenate([people["xy"], tip])
            suv, sz = cam.project(np.column_stack([ends, np.zeros(2 * p)]))
            ok = (sz[:p] > 0.3) & (sz[p:] > 0.3) & (foot_depth > 0.5)
            a, b = _pts(np.nan_to_num(suv[:p])), _pts(np.nan_to_num(suv[p:]))
            th = np.maximum(1, (0.4 * cam.focal / np.where(ok, sz[:p], 1.0)).astype(int))
            for i in np.flatnonzero(ok):
                cv2.line(shadow, tuple(a[i]), tuple(b[i]), 255, int(th[i]), cv2.LINE_8, SHIFT)

        # depth order: statics, cars and people, far to near
        order: list[tuple[float, int, int]] = [(s.depth, 0, j) for j, s in enumerate(self.statics)]
        prims = self._person_prims(kp, depth, scale) if p else []
        order += [
            (float(foot_depth[i]), 1, i) for i in range(p) if foot_depth[i] > 0.5 and prims[i]
        ]
        car_geo = [self._car(c, shadow) for c in cars]
        order += [(g[0], 2, j) for j, g in enumerate(car_geo) if g is not None]
        order.sort(key=lambda t: -t[0])
        for _, kind, j in order:
            if kind == 0:
                s = self.statics[j]
                for poly in s.polys:
                    cv2.fillConvexPoly(labels, poly, 0, cv2.LINE_8, SHIFT)
                for pts, _, t in s.lines:
                    cv2.line(labels, tuple(pts[0]), tuple(pts[1]), 0, t, cv2.LINE_8, SHIFT)
            elif kind == 1:
                self._draw_person(labels, j, prims[j])
            else:
                for lab0, prim in car_geo[j][1]:
                    lab = lab0 + 3 * (j % MAX_CARS)
                    if prim[0] == "poly":
                        cv2.fillConvexPoly(labels, prim[1], lab, cv2.LINE_8, SHIFT)
                    else:
                        cv2.circle(labels, prim[1], prim[2], lab, -1, cv2.LINE_8, SHIFT)

        # colours (uint8 throughout: cv2 saturating arithmetic)
        sh = cv2.GaussianBlur(shadow, self._shadow_ksize, 0)
        shade = cv2.convertScaleAbs(sh, alpha=-0.4, beta=255.0)
        img = cv2.multiply(self.background, cv2.merge([shade, shade, shade]), scale=1.0 / 255.0)
        self._colour(img, labels, people, kp, scale, cars)
        img = cv2.GaussianBlur(img, (3, 3), 0.6)
        t = index / FPS
        gain = (
            1.0
            + 0.03 * math.sin(2 * math.pi * t / 2.7 + self._flicker[0])
            + 0.01 * math.sin(2 * math.pi * t / 0.45 + self._flicker[1])
        )
        img = cv2.convertScaleAbs(img, alpha=gain)
        pos, neg = self._noise[int(rng.integers(len(self._noise)))]
        dy, dx = int(rng.integers(32)), int(rng.integers(32))
        out = cv2.subtract(
            cv2.add(img, pos[dy : dy + h, dx : dx + w]), neg[dy : dy + h, dx : dx + w]
        )
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 80])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR), labels

    def _keypoints(self, pp: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Projected body keypoints (P, 20, 2) and their depths (P, 20).

        0 foot centre, 1/2 hips L/R, 3/4 feet L/R, 5/6 shoulders L/R, 7/8 hands L/R, 9 head
        centre, 10 hair centre, 11 torso centre, 12-19 torso box corners.
        """
        xy, hd = pp["xy"], pp["heading"]
        hgt, build = pp["height"][:, None], pp["build"][:, None]
        lat = np.stack([-hd[:, 1], hd[:, 0]], axis=1)
        amp = np.clip(pp["speed"] / 1.3, 0, 1.3)[:, None] * 0.3 * hgt / 1.72
        sw = np.sin(pp["phase"])[:, None]

        def p3(base, z):
            return np.concatenate([base, np.broadcast_to(z, (len(base), 1))], axis=1)

        hip_z, sh_z = 0.52 * hgt, 0.81 * hgt
        hw, sw_ = 0.1 * build, 0.21 * build * hgt / 1.72
        pts = [
            p3(xy, 0.0 * hgt),
            p3(xy + hw * lat, hip_z),
            p3(xy - hw * lat, hip_z),
            p3(xy + hw * lat + amp * sw * hd, 0.03 + 0.0 * hgt),
            p3(xy - hw * lat - amp * sw * hd, 0.03 + 0.0 * hgt),
            p3(xy + sw_ * lat, sh_z),
            p3(xy - sw_ * lat, sh_z),
            p3(xy + (sw_ + 0.04) * lat - 0.6 * amp * sw * hd, 0.45 * hgt),
            p3(xy - (sw_ + 0.04) * lat + 0.6 * amp * sw * hd, 0.45 * hgt),
            p3(xy + 0.02 * hd, 0.925 * hgt),
            p3(xy - 0.025 * hd, 0.94 * hgt),
            p3(xy, 0.665 * hgt),
        ]
        for z, wfac in ((hip_z - 0.03, 0.8), (sh_z, 1.0)):
            for s_l, s_f in ((1, 1), (-1, 1), (-1, -1), (1, -1)):
                pts.append(p3(xy + s_l * wfac * sw_ * lat + s_f * 0.11 * build * hd, z))
        world = np.stack(pts, axis=1)
        uv, z = self.cam.project(world)
        return uv, z

    def _person_prims(self, kp: np.ndarray, z: np.ndarray, sc: np.ndarray) -> list:
        """Per person: drawable primitives as plain lists (fast cv2 calls), None if clipped."""
        valid = np.all(np.isfinite(kp), axis=(1, 2)) & np.all(z > 0.3, axis=1)
        q = _pts(np.nan_to_num(kp)).tolist()
        leg_t = np.maximum(1, np.round(0.14 * np.nan_to_num(sc[:, 1]))).astype(int).tolist()
        arm_t = np.maximum(1, np.round(0.085 * np.nan_to_num(sc[:, 5]))).astype(int).tolist()
        shoe_r = (0.065 * np.nan_to_num(sc[:, 3]) * _S).astype(int).tolist()
        head_r = np.maximum(1, 0.11 * np.nan_to_num(sc[:, 9]) * _S).astype(int).tolist()
        far_l = (z[:, 5] > z[:, 6]).tolist()
        far_leg = (z[:, 3] > z[:, 4]).tolist()
        hulls = [cv2.convexHull(np.asarray(qq[12:20], np.int32)) for qq in q]
        out = []
        for i in range(len(q)):
            if not valid[i]:
                out.append(None)
                continue
            out.append(
                (q[i], leg_t[i], arm_t[i], shoe_r[i], head_r[i], far_l[i], far_leg[i], hulls[i])
            )
        return out

    @staticmethod
    def _draw_person(labels: np.ndarray, slot: int, prim) -> None:
        q, leg_t, arm_t, shoe_r, head_r, far_l, far_leg, hull = prim
        base = PERSON0 + 8 * slot
        line, circle = cv2.line, cv2.circle
        arms = ((5, 7), (6, 8)) if far_l else ((6, 8), (5, 7))
        legs = ((1, 3), (2, 4)) if far_leg else ((2, 4), (1, 3))
        a, b = arms[0]
        line(labels, q[a], q[b], base + ARMS, arm_t, cv2.LINE_8, SHIFT)
        for a, b in legs:
            line(labels, q[a], q[b], base + LEGS, leg_t, cv2.LINE_8, SHIFT)
            circle(labels, q[b], shoe_r, base + SHOES, -1, cv2.LINE_8, SHIFT)
        cv2.fillConvexPoly(labels, hull, base + TORSO, cv2.LINE_8, SHIFT)
        a, b = arms[1]
        line(labels, q[a], q[b], base + ARMS, arm_t, cv2.LINE_8, SHIFT)
        circle(labels, q[9], head_r, base + SKIN, -1, cv2.LINE_8, SHIFT)
        circle(labels, q[10], int(head_r * 0.93), base + HAIR, -1, cv2.LINE_8, SHIFT)

    def _car(self, car: dict, shadow: np.ndarray):
        cam = self.cam
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
                prims.append((3, ("circle", tuple(_pts(uv[0])), int(0.33 * cam.focal / z[0] * _S))))
        prims.append((1, ("poly", cv2.convexHull(_pts(uvb)))))
        prims.append((2, ("poly", cv2.convexHull(_pts(uvc)))))
        prims.append((1, ("poly", _pts(uvc[4:]).reshape(-1, 1, 2))))
        sh = np.column_stack([body[:, :2] + body[:, 2:3] * self.sun, np.zeros(8)])
        suv, sz = cam.project(sh)
        if np.all(sz > 0.3):
            cv2.fillConvexPoly(shadow, cv2.convexHull(_pts(suv)), 255, cv2.LINE_8, SHIFT)
        _, zc0 = cam.project(np.array([[c[0], c[1], 0.0]]))
        return float(zc0[0]), prims

    def _colour(self, img, labels, pp, kp, scale, cars) -> None:
        """Fill label pixels with clothing colours, textures, shading and outlines."""
        ys, xs = np.nonzero(labels)
        if len(ys) == 0:
            return
        lab = labels[ys, xs].astype(np.int64)
        p = len(pp["xy"])
        n_lab = PERSON0 + 8 * max(p, 1)
        lut = np.zeros((n_lab, 3), np.float32)
        for k, car in enumerate(cars[:MAX_CARS]):
            lut[1 + 3 * k : 4 + 3 * k] = (car["colour"], (70, 55, 50), (25, 25, 25))
        if p:
            blk = lut[PERSON0:].reshape(p, 8, 3)
            blk[:, LEGS] = pp["trousers"]
            blk[:, TORSO] = pp["shirt"]
            blk[:, ARMS] = pp["shirt"] * 0.92
            blk[:, SKIN] = pp["skin"]
            blk[:, HAIR] = pp["hair"]
            blk[:, SHOES] = (30, 30, 35)
        col = lut[lab]
        person = lab >= PERSON0
        slot = np.where(person, (lab - PERSON0) // 8, 0)
        part = np.where(person, (lab - PERSON0) % 8, -1)
        if p:
            # clothing texture on shirts: stripes or checks in image space, scaled by distance
            per = np.maximum(pp["period"] * np.nan_to_num(scale[:, 11], nan=1.0), 2.0)[slot]
            cx, cy = kp[:, 11, 0][slot], kp[:, 11, 1][slot]
            fx, fy = (xs - np.nan_to_num(cx)) / per, (ys - np.nan_to_num(cy)) / per
            sx = np.where(np.floor(fx) % 2 == 0, 1.0, -1.0)
            sy = np.where(np.floor(fy) % 2 == 0, 1.0, -1.0)
            pat = pp["pattern"][slot]
            tex = np.select([pat == 1, pat == 2, pat == 3], [sy, sx, sx * sy], 0.0)
            shirt = person & ((part == TORSO) | (part == ARMS))
            k = 1.0 + 0.5 * pp["contrast"][slot] * tex * shirt
            # light from above: brighter shoulders, darker legs
            top = np.nan_to_num(kp[:, 9, 1] - 0.12 * scale[:, 9])[slot]
            hpx = np.maximum(np.nan_to_num(kp[:, 0, 1])[slot] - top, 1.0)
            k *= np.where(person, 1.12 - 0.3 * np.clip((ys - top) / hpx, 0, 1), 1.0)
            col *= k[:, None].astype(np.float32)
        # outlines: darken pixels on a label boundary (inside the figure)
        edge = np.zeros(labels.shape, bool)
        dx = labels[:, 1:] != labels[:, :-1]
        dy = labels[1:, :] != labels[:-1, :]
        edge[:, 1:] |= dx
        edge[:, :-1] |= dx
        edge[1:, :] |= dy
        edge[:-1, :] |= dy
        col *= np.where(edge[ys, xs], 0.62, 1.0)[:, None].astype(np.float32)
        img[ys, xs] = np.clip(col, 0, 255)


def car_colour(rng: np.random.Generator) -> np.ndarray:
    return _CARS[rng.integers(len(_CARS))]
