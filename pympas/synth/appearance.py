"""How people look and walk: clothing, skin and hair palettes, per-person :class:`Appearance`
drawn deterministically from the seed, and the gait phase along each trajectory."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pympas.synth.scenarios import FPS, Trajectories

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
