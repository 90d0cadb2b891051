"""KLT particles (MPASNet Sec. 2.2): corners tracked by pyramidal Lucas-Kanade, and their
velocities at the labelled frames.

Tracking: Shi-Tomasi corners (``cv2.goodFeaturesToTrack``) followed frame to frame by pyramidal
Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``). A track survives a step only if tracking the new
point back lands within ``fb_threshold`` pixels of where it started (forward-backward
consistency) and it stays inside the image. Every ``detect_interval`` frames new corners are
detected away from the live tracks (at least ``min_distance`` pixels) so that up to
``max_particles`` tracks stay alive.

Two ways to track a video:

- continuous (:class:`ParticleTracker`): every frame is tracked, so a particle at a labelled frame
  may be a track many frames old;
- windowed (:class:`WindowedTracker`): only the frames within ``half_window`` of a labelled frame
  t = 0, stride, 2 stride, ... are tracked. Each window t - h .. t + h (clipped to the video) starts
  afresh: corners detected at its first frame, followed through it by the same Lucas-Kanade steps
  and forward-backward check; at t itself new corners are added in the areas left empty (as the
  continuous tracker does at its detection frames, which include every labelled frame of a stride
  that is a multiple of ``detect_interval``). The particles at t are then corners of frame t - h
  still tracked at t, and corners of frame t; their velocities are the same centred difference,
  clipped to the tracked span. When the stride is at most the window length 2h + 1, windows touch
  or overlap and cover every frame: windowed tracking degenerates to continuous, and the
  continuous tracker is used instead (no frame is tracked twice).

Velocities: the velocity of a particle at labelled frame t is its mean displacement per frame over
a centred window, ``(p[t2] - p[t1]) / (t2 - t1)`` with ``t1 = max(t - h, birth)`` and
``t2 = min(t + h, last frame tracked)``, h = ``half_window`` (2: a 5-frame window). The central
difference damps the sub-pixel jitter of single LK steps; a particle seen at t only has no
velocity and is dropped. Units are pixels per frame. ``velocity="forward"`` takes instead the
authors' forward difference of "Measuring Crowd Collectiveness", ``p[t + 1] - p[t]``; a particle
not tracked into t + 1 has none and is dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["KLTParams", "ParticleTracker", "VelocityWindow", "WindowedTracker"]


@dataclass(frozen=True)
class KLTParams:
    """Settings of the KLT tracker (OpenCV's names)."""

    max_particles: int = 3000
    quality_level: float = 0.01
    min_distance: int = 5
    block_size: int = 7
    win_size: int = 15
    max_level: int = 3
    fb_threshold: float = 1.0
    detect_interval: int = 5

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


class ParticleTracker:
    """Streaming KLT tracker: feed grayscale frames in order with :meth:`step`.

    Track ids are assigned in increasing order and never reused, and the live tracks are kept
    sorted by id, so the ids of every frame form a sorted array.
    """

    def __init__(self, params: KLTParams | None = None) -> None:
        import cv2

        self.params = params or KLTParams()
        p = self.params
        self._lk = {
            "winSize": (p.win_size, p.win_size),
            "maxLevel": p.max_level,
            "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03),
        }
        self._prev: np.ndarray | None = None
        self.ids = np.zeros(0, dtype=np.int64)
        self.positions = np.zeros((0, 2), dtype=np.float32)
        self._next_id = 0
        self.frame_index = -1

    def restart(self) -> None:
        """Forget the live tracks and the previous frame: the next :meth:`step` starts afresh
        (ids keep increasing, so they are never reused)."""
        self._prev = None
        self.ids = self.ids[:0]
        self.positions = self.positions[:0]

    def step(self, gray: np.ndarray, detect: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Track into the next frame.

        Args:
            gray: (H, W) uint8 grayscale frame.
            detect: add new corners after tracking: None = every ``detect_interval`` frames,
                True = now, False = not now.

        Returns:
            ids (n,) int64 sorted, positions (n, 2) float32 (x, y) of the live tracks.
        """
        import cv2

        self.frame_index += 1
        p = self.params
        h, w = gray.shape
        if self._prev is not None and len(self.ids):
            p0 = self.positions.reshape(-1, 1, 2)
            p1, st1, _ = cv2.calcOpticalFlowPyrLK(self._prev, gray, p0, None, **self._lk)
            p0r, st2, _ = cv2.calcOpticalFlowPyrLK(gray, self._prev, p1, None, **self._lk)
            fb = np.abs(p0 - p0r).reshape(-1, 2).max(axis=1)  # forward-backward error
            p1 = p1.reshape(-1, 2)
            good = (
                (st1.ravel() == 1)
                & (st2.ravel() == 1)
                & (fb < p.fb_threshold)
                & (p1[:, 0] >= 0)
                & (p1[:, 1] >= 0)
                & (p1[:, 0] <= w - 1)
                & (p1[:, 1] <= h - 1)
            )
            self.ids = self.ids[good]
            self.positions = np.ascontiguousarray(p1[good])
        elif self._prev is not None:
            self.ids = self.ids[:0]
        if detect is None:
            detect = self.frame_index % p.detect_interval == 0
        if detect and len(self.ids) < p.max_particles:
            self._detect(gray)
        self._prev = gray
        return self.ids, self.positions

    def _detect(self, gray: np.ndarray) -> None:
        """Add corners in the empty areas: at least min_distance from every live track."""
        import cv2

        p = self.params
        mask = np.full(gray.shape, 255, dtype=np.uint8)
        for x, y in np.rint(self.positions).astype(np.int32):
            cv2.circle(mask, (int(x), int(y)), p.min_distance, 0, -1)
        corners = cv2.goodFeaturesToTrack(
            gray,
            maxCorners=p.max_particles - len(self.ids),
            qualityLevel=p.quality_level,
            minDistance=p.min_distance,
            mask=mask,
            blockSize=p.block_size,
        )
        if corners is None or len(corners) == 0:
            return
        corners = corners.reshape(-1, 2).astype(np.float32)
        new_ids = np.arange(self._next_id, self._next_id + len(corners), dtype=np.int64)
        self._next_id += len(corners)
        self.ids = np.concatenate([self.ids, new_ids])
        self.positions = np.concatenate([self.positions, corners])


class WindowedTracker:
    """KLT tracking of the windows around the labelled frames only (see the module docstring).

    Frame t is labelled when t % stride == 0; its window is t - half_window .. t + half_window.
    Corners are detected at the window start (:meth:`starts`) and at t. Ask :meth:`tracks` which
    frames to feed, and feed those with :meth:`step` in order.
    """

    def __init__(self, stride: int, half_window: int, params: KLTParams | None = None) -> None:
        if stride <= 2 * half_window + 1:
            raise ValueError(
                f"stride {stride} <= window length {2 * half_window + 1}: windows cover every "
                "frame; track continuously (ParticleTracker)"
            )
        self.stride = int(stride)
        self.half = int(half_window)
        self._tracker = ParticleTracker(params)
        self._last: int | None = None

    def tracks(self, frame: int) -> bool:
        """True if ``frame`` lies in a window (within half_window of a labelled frame)."""
        return frame >= 0 and (frame + self.half) % self.stride <= 2 * self.half

    def starts(self, frame: int) -> bool:
        """True if ``frame`` is the first frame of a window (corners are detected there)."""
        return frame == 0 or (frame >= 0 and (frame + self.half) % self.stride == 0)

    def step(self, frame: int, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Track into ``frame`` (a frame :meth:`tracks`; frames of a window in order).

        Returns:
            ids (n,) int64 sorted, positions (n, 2) float32 (x, y) of the live tracks.
        """
        start = self.starts(frame)
        if not self.tracks(frame):
            raise ValueError(f"frame {frame} lies outside every tracking window")
        if not start and self._last != frame - 1:
            raise ValueError(f"frame {frame} given without frame {frame - 1} of its window")
        if start:
            self._tracker.restart()
        self._last = frame
        return self._tracker.step(gray, detect=start or frame % self.stride == 0)


class VelocityWindow:
    """Velocities of the particles at chosen frames, from a stream of tracks: over the centred
    window (``velocity="centred"``) or forward, to the next frame (``velocity="forward"``).

    Push the tracks of every frame in order with :meth:`push`; the velocities of a frame marked
    ``wanted`` come out ``half_window`` frames later (or from :meth:`flush` at the end).
    """

    def __init__(self, half_window: int = 2, velocity: str = "centred") -> None:
        if velocity not in ("centred", "forward"):
            raise ValueError(f"velocity must be 'centred' or 'forward', got {velocity!r}")
        self.half = int(half_window)
        self.forward = velocity == "forward"
        if self.forward and self.half < 1:
            raise ValueError("forward velocities need half_window >= 1 (the next frame)")
        self._buf: deque[tuple[int, np.ndarray, np.ndarray]] = deque(maxlen=2 * self.half + 1)
        self._wanted: deque[int] = deque()

    def push(
        self, frame: int, ids: np.ndarray, positions: np.ndarray, wanted: bool
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Add the tracks of ``frame``; yields (t, positions (n, 2), velocities (n, 2)) float64
        for every wanted frame t whose window is now complete."""
        self._buf.append((frame, ids.copy(), positions.copy()))
        if wanted:
            self._wanted.append(frame)
        while self._wanted and self._wanted[0] + self.half <= frame:
            yield self._velocities(self._wanted.popleft())

    def flush(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Velocities of the wanted frames still waiting at the end of the stream."""
        while self._wanted:
            yield self._velocities(self._wanted.popleft())

    def _velocities(self, t: int) -> tuple[int, np.ndarray, np.ndarray]:
        entries = {f: (ids, pos) for f, ids, pos in self._buf}
        ids_t, pos_t = entries[t]
        pos_t = pos_t.astype(np.float64)
        ends, starts = pos_t.copy(), pos_t.copy()
        t_end = np.full(len(ids_t), t, dtype=np.int64)
        t_start = t_end.copy()
        # Tracks are contiguous in time, so a track seen at t + d was seen at every frame before.
        if self.forward:
            steps = [(t + 1, ends, t_end)]
        else:
            steps = [(t + d, ends, t_end) for d in range(1, self.half + 1)]
            steps += [(t - d, starts, t_start) for d in range(1, self.half + 1)]
        for f, pos_out, t_out in steps:
            if f not in entries:
                continue
            ids_f, pos_f = entries[f]
            idx = np.searchsorted(ids_f, ids_t)
            idx_c = np.minimum(idx, max(len(ids_f) - 1, 0))
            found = (idx < len(ids_f)) & (ids_f[idx_c] == ids_t) if len(ids_f) else idx < 0
            pos_out[found] = pos_f[idx_c[found]]
            t_out[found] = f
        dt = t_end - t_start
        ok = dt > 0
        velocities = (ends[ok] - starts[ok]) / dt[ok, None]
        return t, pos_t[ok], velocities
