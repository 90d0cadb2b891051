"""OpenCV/NumPy renderer: people as articulated figures on a textured, cluttered ground.

:class:`Renderer` composes the pieces of the other modules. Every frame is first drawn as a
*label image* (H, W) uint16 in depth order (painter's algorithm; layout in
:mod:`pympas.synth.raster`): 0 shows the background (:mod:`~pympas.synth.ground` and the static
clutter of :mod:`~pympas.synth.objects`, rendered once), then cars and people
(:mod:`~pympas.synth.people`). Colours and clothing textures (:mod:`~pympas.synth.appearance`)
are then filled in from per-label tables in one vectorised pass, so the ground-truth mask
(``labels >= PERSON0``) is exactly the set of pixels where a person is drawn, including
occlusion by cars and static objects in front of them. Soft shadows and the camera
degradations of :mod:`~pympas.synth.degrade` (lighting flicker, optical blur, sensor noise,
JPEG compression) act on colours only.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from pympas.synth.appearance import Appearance, gait_phase, make_appearance
from pympas.synth.camera import Camera
from pympas.synth.degrade import CameraEffects
from pympas.synth.ground import ground_image
from pympas.synth.objects import Static, build_statics, car_colour, car_geometry, draw_statics
from pympas.synth.people import draw_person, draw_shadows, keypoints, person_prims
from pympas.synth.raster import (
    ARMS,
    HAIR,
    LEGS,
    MAX_CARS,
    PERSON0,
    SHIFT,
    SHOES,
    SKIN,
    TORSO,
)
from pympas.synth.scenarios import Scenario


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
        self.effects = CameraEffects(self.rng, w, h)

    def _background(self) -> np.ndarray:
        """The ground with the static objects and their shadows (H, W, 3) uint8 BGR."""
        cam = self.cam
        img = ground_image(self.sc, cam, self.rng)
        shadow = np.zeros((cam.height, cam.width), np.uint8)
        self.statics, self._static_draw = build_statics(self.sc, cam, self.sun, shadow)
        sh = cv2.GaussianBlur(shadow, (0, 0), 0.006 * cam.width + 0.5).astype(np.float32) / 255.0
        img = (img.astype(np.float32) * (1 - 0.45 * sh[..., None])).astype(np.uint8)
        # redraw the static objects over their own shadows
        draw_statics(img, self._static_draw)
        return img

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
        kp, depth = keypoints(cam, people) if p else (np.zeros((0, 20, 2)), np.zeros((0, 20)))
        foot_depth = depth[:, 0] if p else np.zeros(0)
        scale = cam.focal / np.where(depth > 0.1, depth, np.nan)  # px per metre at each keypoint
        if p:
            draw_shadows(shadow, cam, people, self.sun, foot_depth)

        # depth order: statics, cars and people, far to near
        order: list[tuple[float, int, int]] = [(s.depth, 0, j) for j, s in enumerate(self.statics)]
        prims = person_prims(kp, depth, scale) if p else []
        order += [
            (float(foot_depth[i]), 1, i) for i in range(p) if foot_depth[i] > 0.5 and prims[i]
        ]
        car_geo = [car_geometry(c, cam, self.sun, shadow) for c in cars]
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
                draw_person(labels, j, prims[j])
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
        return self.effects.apply(img, index, rng), labels

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


# names that lived in this module before it was split, importable from here as before
__all__ = [
    "MAX_CARS",
    "PERSON0",
    "SHIFT",
    "Appearance",
    "Renderer",
    "Static",
    "car_colour",
    "gait_phase",
    "make_appearance",
]
