"""A pinhole camera looking at the ground plane z = 0 (world units: metres, z up).

The camera is placed by a ground target point, an azimuth (``yaw``, direction it looks along,
counter-clockwise from +x), a ``pitch`` below the horizon (about 35-50 degrees for an oblique
surveillance view, 75-90 for a near top-down one) and a distance. :func:`fit_camera` picks the
distance so that a set of ground points fills the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Camera:
    """Pinhole camera; ``width``/``height`` in pixels, angles in degrees, lengths in metres."""

    width: int
    height: int
    target: tuple[float, float]
    yaw: float
    pitch: float
    distance: float
    fov: float

    @cached_property
    def focal(self) -> float:
        """Focal length in pixels (from the horizontal field of view)."""
        return 0.5 * self.width / math.tan(math.radians(self.fov) / 2.0)

    @cached_property
    def rotation(self) -> np.ndarray:
        """World-to-camera rotation (3, 3): rows are image-right, image-down and forward."""
        y, p = math.radians(self.yaw), math.radians(self.pitch)
        fwd = np.array([math.cos(p) * math.cos(y), math.cos(p) * math.sin(y), -math.sin(p)])
        right = np.array([math.sin(y), -math.cos(y), 0.0])
        down = np.cross(fwd, right)
        return np.stack([right, down, fwd])

    @cached_property
    def center(self) -> np.ndarray:
        """Camera position in the world (3,)."""
        fwd = self.rotation[2]
        return np.array([self.target[0], self.target[1], 0.0]) - self.distance * fwd

    @cached_property
    def intrinsics(self) -> np.ndarray:
        """Camera matrix K (3, 3)."""
        f = self.focal
        return np.array([[f, 0, self.width / 2.0], [0, f, self.height / 2.0], [0, 0, 1.0]])

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) -> camera coordinates (..., 3) (last axis: right, down, depth)."""
        return (np.asarray(points, dtype=np.float64) - self.center) @ self.rotation.T

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (..., 3) -> pixel coordinates (..., 2) and depth (...,) in metres.

        Points behind the camera (depth <= 0) get NaN pixel coordinates.
        """
        c = self.to_camera(points)
        z = c[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            zz = np.where(z > 1e-6, z, np.nan)
            u = self.focal * c[..., 0] / zz + self.width / 2.0
            v = self.focal * c[..., 1] / zz + self.height / 2.0
        return np.stack([u, v], axis=-1), z

    def ground_homography(self) -> np.ndarray:
        """Homography (3, 3) mapping ground points (X, Y, 1) to homogeneous pixels."""
        r = self.rotation
        t = -r @ self.center
        return self.intrinsics @ np.column_stack([r[:, 0], r[:, 1], t])

    def to_dict(self) -> dict:
        return {
            "width": self.width,
            "height": self.height,
            "target": list(self.target),
            "yaw": self.yaw,
            "pitch": self.pitch,
            "distance": self.distance,
            "fov": self.fov,
            "focal_px": self.focal,
            "center": self.center.tolist(),
            "K": self.intrinsics.tolist(),
            "R": self.rotation.tolist(),
        }


def fit_camera(
    ground_points: np.ndarray,
    width: int,
    height: int,
    *,
    yaw: float,
    pitch: float,
    fov: float = 60.0,
    margin: float = 0.04,
    zoom: float = 1.0,
) -> Camera:
    """A camera looking at the centre of ``ground_points`` (N, 2) from the smallest distance
    (bisection) at which all of them project inside the image with ``margin`` (fraction of the
    size) to spare; ``zoom`` > 1 then moves it closer by that factor (cropping the area)."""
    pts = np.asarray(ground_points, dtype=np.float64)
    lo_xy, hi_xy = pts.min(axis=0), pts.max(axis=0)
    target = (float((lo_xy[0] + hi_xy[0]) / 2), float((lo_xy[1] + hi_xy[1]) / 2))
    p3 = np.column_stack([pts, np.zeros(len(pts))])

    def fits(tgt: tuple[float, float], d: float) -> bool:
        cam = Camera(width, height, tgt, yaw, pitch, d, fov)
        uv, z = cam.project(p3)
        if np.any(~(z > 0.5)):
            return False
        mx, my = margin * width, margin * height
        return bool(
            np.all((uv[:, 0] >= mx) & (uv[:, 0] <= width - mx))
            and np.all((uv[:, 1] >= my) & (uv[:, 1] <= height - my))
        )

    def fit_distance(tgt) -> float:
        lo, hi = 1.0, 1000.0
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if fits(tgt, mid):
                hi = mid
            else:
                lo = mid
        return hi

    for _ in range(4):  # re-aim at the ground point under the centre of the projected area
        d = fit_distance(target)
        cam = Camera(width, height, target, yaw, pitch, d, fov)
        uv, _ = cam.project(p3)
        mid_px = 0.5 * (uv.min(axis=0) + uv.max(axis=0))
        g = np.linalg.solve(cam.ground_homography(), np.array([mid_px[0], mid_px[1], 1.0]))
        target = (float(g[0] / g[2]), float(g[1] / g[2]))
    return Camera(width, height, target, yaw, pitch, fit_distance(target) / zoom, fov)
