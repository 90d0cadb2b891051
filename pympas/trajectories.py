"""Trajectory files of the crowd-motion datasets: particles from given tracks instead of KLT.

The Collective Motion Database and the CUHK Crowd dataset ship KLT trajectories (gKLT) as text,
one trajectory per line::

    LEN<TAB>(x,y,t)(x,y,t)...

``LEN`` is the number of points, ``x, y`` pixel coordinates (0-based: the first column is
x = 0) and ``t`` the frame number, **1-based** (frame index i of the video is file frame i + 1),
strictly increasing along a trajectory. A trajectory's id is its 1-based line number. Blank lines
are skipped (they still count as lines). This module is the package's one reader of the format
(:func:`read_trajectories`); ``pympas.label(video, tracks=PATH)`` labels from such a file.

Which particles a frame has, and their velocities (pixels per frame), follow the authors' code
(``trk2XV`` of "Measuring Crowd Collectiveness"): a trajectory of at most 2 points is dropped;
of the others, the points at frame t are the particles of t, in file order, with

- ``velocity="forward"`` (the authors' convention): the next point minus this point, divided by
  their frame gap (1 in every file of the datasets, so exactly the authors' difference); the last
  point of a trajectory has no next point and is not a particle;
- ``velocity="centred"`` (the window :mod:`pympas.particles` uses for KLT tracks): the mean
  displacement per frame over t - 2 .. t + 2, clipped to the trajectory's span; every point is
  a particle.

Errors name the file and the line: a malformed line (not ``LEN<TAB>(x,y,t)...``, or ``LEN``
different from the number of points), a frame number below 1 or not above the previous one, and
(checked against a frame size, :meth:`Trajectories.check_inside`) coordinates outside the frames.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["VELOCITY", "Trajectories", "TrajectoryError", "read_trajectories"]

#: velocity conventions: "centred" (5-frame window, the default everywhere) and "forward"
VELOCITY = ("centred", "forward")
#: trajectories of at most this many points are dropped (the authors' trk2XV)
MIN_POINTS = 3
#: half the centred window (t - 2 .. t + 2), as for KLT tracks
HALF_WINDOW = 2

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_POINT = re.compile(rf"\(\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*([-+]?\d+)\s*\)")
_LINE = re.compile(rf"\s*(\d+)\t((?:\(\s*{_NUMBER}\s*,\s*{_NUMBER}\s*,\s*[-+]?\d+\s*\))*)\s*")


class TrajectoryError(ValueError):
    """A trajectory file that cannot be read; the message names the file and the line."""


@dataclass
class Trajectories:
    """The trajectories of one file, as read by :func:`read_trajectories`.

    Attributes:
        path: the file.
        points: (P, 2) float64 x, y of every point, trajectory after trajectory (file order).
        frames: (P,) int64 1-based frame number of every point.
        offsets: (N + 1,) int64: trajectory n holds points offsets[n] .. offsets[n + 1] - 1.
        lines: (N,) int64 the 1-based line number of each trajectory (its id).
    """

    path: Path
    points: np.ndarray
    frames: np.ndarray
    offsets: np.ndarray
    lines: np.ndarray
    _tables: dict[str, tuple[np.ndarray, ...]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def last_frame(self) -> int:
        """The largest (1-based) frame number in the file (0 if it has no points)."""
        return int(self.frames.max()) if len(self.frames) else 0

    def check_inside(self, height: int, width: int) -> None:
        """Raise :class:`TrajectoryError` naming the file and the line of the first point
        outside the frames: 0 <= x < width and 0 <= y < height (pixel coordinates)."""
        x, y = self.points[:, 0], self.points[:, 1]
        out = np.flatnonzero((x < 0) | (x >= width) | (y < 0) | (y >= height))
        if len(out):
            p = int(out[0])
            n = int(np.searchsorted(self.offsets, p, side="right")) - 1
            raise TrajectoryError(
                f"{self.path}:{int(self.lines[n])}: point ({_fmt(x[p])},{_fmt(y[p])},"
                f"{int(self.frames[p])}) lies outside the {width}x{height} frames "
                f"(0 <= x < {width}, 0 <= y < {height})"
            )

    def check_frames(self, frame_count: int) -> None:
        """Raise :class:`TrajectoryError` naming the file and the line of the first point whose
        frame lies beyond a video of ``frame_count`` frames (file frames 1 .. frame_count)."""
        beyond = np.flatnonzero(self.frames > frame_count)
        if len(beyond):
            p = int(beyond[0])
            n = int(np.searchsorted(self.offsets, p, side="right")) - 1
            raise TrajectoryError(
                f"{self.path}:{int(self.lines[n])}: frame {int(self.frames[p])} lies beyond the "
                f"video's {frame_count} frames"
            )

    def particles(
        self, frame: int, velocity: str = "centred"
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The particles of (1-based) file frame ``frame``, in file order.

        Returns:
            positions (n, 2) float64, velocities (n, 2) float64 (pixels per frame) and the
            trajectory ids (n,) int64 (1-based line numbers); see the module docstring for which
            points count and the velocity conventions.
        """
        if velocity not in VELOCITY:
            raise ValueError(f"velocity must be 'centred' or 'forward', got {velocity!r}")
        if velocity not in self._tables:
            self._tables[velocity] = self._table(velocity)
        frames, positions, velocities, ids = self._tables[velocity]
        lo, hi = np.searchsorted(frames, [frame, frame + 1])
        return positions[lo:hi], velocities[lo:hi], ids[lo:hi]

    def _table(self, velocity: str) -> tuple[np.ndarray, ...]:
        """Every particle of every frame, sorted by frame (stably: file order within a frame):
        frames, positions, velocities, ids."""
        counts = np.diff(self.offsets)
        track = np.repeat(np.arange(len(counts)), counts)
        last = self.offsets[1:][track] - 1
        index = np.flatnonzero(counts[track] >= MIN_POINTS)
        if velocity == "forward":
            index = index[index < last[index]]
            i1, i2 = index, index + 1
        else:
            # t - 2 .. t + 2 clipped to the trajectory's span, found by one sorted search: frames
            # rise within a trajectory, so track * span + frame rises through the whole file
            span = self.last_frame + 2 * HALF_WINDOW + 2
            key = track * span + self.frames
            i1 = np.searchsorted(key, key[index] - HALF_WINDOW, side="left")
            i2 = np.searchsorted(key, key[index] + HALF_WINDOW, side="right") - 1
        dt = (self.frames[i2] - self.frames[i1]).astype(np.float64)
        velocities = (self.points[i2] - self.points[i1]) / dt[:, None]
        order = np.argsort(self.frames[index], kind="stable")
        index = index[order]
        return self.frames[index], self.points[index], velocities[order], self.lines[track[index]]


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def read_trajectories(path: str | os.PathLike) -> Trajectories:
    """Read a gKLT trajectory file (the format of the module docstring).

    Raises:
        FileNotFoundError: the file does not exist (named).
        TrajectoryError: (a ValueError) a malformed line, a frame number below 1 or not above the
            previous one, a number that is not finite; names the file and the line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{path}: no such trajectory file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TrajectoryError(f"{path}: unreadable trajectory file ({exc})") from exc
    xs: list[float] = []
    ys: list[float] = []
    ts: list[int] = []
    offsets = [0]
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        m = _LINE.fullmatch(line)
        if m is None:
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise TrajectoryError(
                f"{where}: malformed line {shown!r} (expected LEN<TAB>(x,y,t)(x,y,t)...)"
            )
        pts = _POINT.findall(m.group(2))
        if int(m.group(1)) != len(pts):
            raise TrajectoryError(
                f"{where}: malformed line: LEN is {m.group(1)} but it holds {len(pts)} points"
            )
        previous = 0
        for x, y, t in pts:
            frame = int(t)
            if frame < 1:
                raise TrajectoryError(f"{where}: frame {frame} (frame numbers are 1-based)")
            if frame <= previous:
                raise TrajectoryError(
                    f"{where}: frame {frame} after frame {previous} (frame numbers must increase "
                    "along a trajectory)"
                )
            previous = frame
            fx, fy = float(x), float(y)
            if not (math.isfinite(fx) and math.isfinite(fy)):
                raise TrajectoryError(f"{where}: coordinates ({x},{y}) are not finite")
            xs.append(fx)
            ys.append(fy)
            ts.append(frame)
        offsets.append(len(ts))
        lines.append(number)
    return Trajectories(
        path=path,
        points=np.stack([np.asarray(xs, np.float64), np.asarray(ys, np.float64)], axis=1),
        frames=np.asarray(ts, np.int64),
        offsets=np.asarray(offsets, np.int64),
        lines=np.asarray(lines, np.int64),
    )
