"""Camera degradations of a coloured frame: optical blur, lighting flicker, sensor noise and
JPEG compression. They act on colours only, never on the label image or the ground truth."""

from __future__ import annotations

import math

import cv2
import numpy as np

from pympas.synth.scenarios import FPS


class CameraEffects:
    """One scene's camera: a bank of sensor-noise images and two flicker phases, drawn from
    ``rng`` once (4 noise draws, then the phases), applied per frame by :meth:`apply`."""

    def __init__(self, rng: np.random.Generator, width: int, height: int) -> None:
        h, w = height, width
        self._noise = []  # sensor noise bank: (positive, negative) uint8 parts, cropped per frame
        for _ in range(4):
            n = np.round(rng.normal(0, 2.5, (h + 32, w + 32, 3)))
            self._noise.append(
                (np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8))
            )
        self._flicker = rng.uniform(0, 2 * math.pi, 2)

    def apply(self, img: np.ndarray, index: int, rng: np.random.Generator) -> np.ndarray:
        """Degrade frame ``index`` (H, W, 3) uint8 BGR: blur, flicker gain, a noise crop chosen
        with ``rng`` (three draws), JPEG quality 80. Returns the decoded frame."""
        h, w = img.shape[:2]
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
        _, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 80])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)
