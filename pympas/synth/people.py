"""People as articulated figures: projected body keypoints from position, heading and gait
phase, each figure's cv2 primitives, drawing them into the label image, and their shadows."""

from __future__ import annotations

import cv2
import numpy as np

from pympas.synth.camera import Camera
from pympas.synth.raster import (
    ARMS,
    HAIR,
    LEGS,
    PERSON0,
    SCALE,
    SHIFT,
    SHOES,
    SKIN,
    TORSO,
    to_fixed,
)


def keypoints(cam: Camera, pp: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
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
    uv, z = cam.project(world)
    return uv, z


def person_prims(kp: np.ndarray, z: np.ndarray, sc: np.ndarray) -> list:
    """Per person: drawable primitives as plain lists (fast cv2 calls), None if clipped."""
    valid = np.all(np.isfinite(kp), axis=(1, 2)) & np.all(z > 0.3, axis=1)
    q = to_fixed(np.nan_to_num(kp)).tolist()
    leg_t = np.maximum(1, np.round(0.14 * np.nan_to_num(sc[:, 1]))).astype(int).tolist()
    arm_t = np.maximum(1, np.round(0.085 * np.nan_to_num(sc[:, 5]))).astype(int).tolist()
    shoe_r = (0.065 * np.nan_to_num(sc[:, 3]) * SCALE).astype(int).tolist()
    head_r = np.maximum(1, 0.11 * np.nan_to_num(sc[:, 9]) * SCALE).astype(int).tolist()
    far_l = (z[:, 5] > z[:, 6]).tolist()
    far_leg = (z[:, 3] > z[:, 4]).tolist()
    hulls = [cv2.convexHull(np.asarray(qq[12:20], np.int32)) for qq in q]
    out = []
    for i in range(len(q)):
        if not valid[i]:
            out.append(None)
            continue
        out.append((q[i], leg_t[i], arm_t[i], shoe_r[i], head_r[i], far_l[i], far_leg[i], hulls[i]))
    return out


def draw_person(labels: np.ndarray, slot: int, prim) -> None:
    """Draw one person's primitives (from :func:`person_prims`) into ``labels`` as the labels
    ``PERSON0 + 8 * slot + part``, far limbs first."""
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


def draw_shadows(
    shadow: np.ndarray,
    cam: Camera,
    pp: dict[str, np.ndarray],
    sun: np.ndarray,
    foot_depth: np.ndarray,
) -> None:
    """Shadows of people into ``shadow`` (H, W) uint8: a thick ground line from the feet
    along the sun direction ``sun`` (ground offset per metre of height)."""
    p = len(pp["xy"])
    tip = pp["xy"] + sun * pp["height"][:, None] * 0.85
    ends = np.concatenate([pp["xy"], tip])
    suv, sz = cam.project(np.column_stack([ends, np.zeros(2 * p)]))
    ok = (sz[:p] > 0.3) & (sz[p:] > 0.3) & (foot_depth > 0.5)
    a, b = to_fixed(np.nan_to_num(suv[:p])), to_fixed(np.nan_to_num(suv[p:]))
    th = np.maximum(1, (0.4 * cam.focal / np.where(ok, sz[:p], 1.0)).astype(int))
    for i in np.flatnonzero(ok):
        cv2.line(shadow, tuple(a[i]), tuple(b[i]), 255, int(th[i]), cv2.LINE_8, SHIFT)


def image_heights(cam: Camera, pp: dict[str, np.ndarray]) -> np.ndarray:
    """Each person's height in the image (P,) in pixels: the length of the projection of the
    vertical segment from the feet (z = 0) to the top of the head (z = ``height``); 0 for people
    not in front of the camera."""
    p = len(pp["xy"])
    if not p:
        return np.zeros(0)
    xy = np.asarray(pp["xy"], dtype=np.float64)
    foot = np.column_stack([xy, np.zeros(p)])
    top = np.column_stack([xy, np.asarray(pp["height"], dtype=np.float64)])
    uv, z = cam.project(np.concatenate([foot, top]))
    h = np.hypot(*(uv[p:] - uv[:p]).T)
    return np.where((z[:p] > 0.3) & (z[p:] > 0.3), np.nan_to_num(h), 0.0)
