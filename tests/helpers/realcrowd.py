"""Test helper: the shared real-crowd collectiveness reference (the authors' Octave output).

Reads ``../shared/data/collectiveness_realcrowd/`` beside the repository root; see its README for
how per-frame particle sets come from the trajectory file.
"""

from __future__ import annotations

import itertools
import re
from functools import cache
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "collectiveness_realcrowd"
_POINT = re.compile(r"\((-?\d+),(-?\d+),(\d+)\)")


def reference_files() -> list[Path]:
    """The 34 ``reference/frameFFF_clampC.csv`` files, sorted by name."""
    return sorted((DATA_DIR / "reference").glob("frame*_clamp*.csv"))


@cache
def particles_by_frame() -> dict[int, np.ndarray]:
    """Frame t -> (n, 6) float64 rows ``x, y, vx, vy, t, id`` in file order.

    A trajectory (1-based id = line number) with more than 2 points contributes, for each of its
    points but the last, its position, the step to the next point as velocity, and its frame.
    """
    rows: list[tuple[int, int, int, int, int, int]] = []
    text = (DATA_DIR / "klt_3000_10_trk.txt").read_text()
    for tid, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        pts = [tuple(map(int, m)) for m in _POINT.findall(line.split("\t", 1)[1])]
        if len(pts) <= 2:
            continue
        for (x, y, t), (x2, y2, _) in itertools.pairwise(pts):
            rows.append((x, y, x2 - x, y2 - y, t, tid))
    table = np.asarray(rows, dtype=np.float64)
    frames = table[:, 4].astype(np.int64)
    order = np.argsort(frames, kind="stable")  # file order within a frame
    table, frames = table[order], frames[order]
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
    ends = np.r_[starts[1:], len(frames)]
    return {int(frames[s]): table[s:e] for s, e in zip(starts, ends, strict=True)}


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
