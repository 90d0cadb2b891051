"""Test helper: the shared real-crowd collectiveness reference (the authors' Octave output).

Reads ``../shared/data/collectiveness_realcrowd/`` beside the repository root; see its README for
how per-frame particle sets come from the trajectory file. The file is read by the package's
reader, :func:`pympas.trajectories.read_trajectories`.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np

from pympas.trajectories import read_trajectories

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "collectiveness_realcrowd"
TRACKS = DATA_DIR / "klt_3000_10_trk.txt"
#: the clip's frame size (height, width)
SIZE = (360, 480)


def reference_files() -> list[Path]:
    """The 34 ``reference/frameFFF_clampC.csv`` files, sorted by name."""
    return sorted((DATA_DIR / "reference").glob("frame*_clamp*.csv"))


@cache
def particles_by_frame() -> dict[int, np.ndarray]:
    """Frame t -> (n, 6) float64 rows ``x, y, vx, vy, t, id`` in file order, with the authors'
    forward velocities (the next point minus this point)."""
    tracks = read_trajectories(TRACKS)
    out = {}
    for t in range(1, tracks.last_frame + 1):
        pos, vel, ids = tracks.particles(t, "forward")
        if len(ids):
            out[t] = np.column_stack([pos, vel, np.full(len(ids), t), ids]).astype(np.float64)
    return out


def load_reference(path: Path) -> tuple[int, bool, np.ndarray]:
    """(frame, clamp_negative, (n, 8) table) of one reference CSV."""
    m = re.fullmatch(r"frame(\d+)_clamp([01])\.csv", path.name)
    assert m, path
    return int(m.group(1)), m.group(2) == "1", np.loadtxt(path, delimiter=",", ndmin=2)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two label vectors (0 = outlier) describe the same clusters, up to renumbering."""
    if not np.array_equal(a == 0, b == 0):
        return False
    kept = a != 0
    pairs = np.unique(np.stack([a[kept], b[kept]], axis=1), axis=0)
    return len(np.unique(pairs[:, 0])) == len(pairs) == len(np.unique(pairs[:, 1]))
