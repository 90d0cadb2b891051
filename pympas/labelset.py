"""The label-set format: one folder of pseudo-labels per video, written by ``pympas label`` and
:meth:`LabelSet.save`, read by :meth:`LabelSet.load`, the training data, ``pympas evaluate`` and
the resume check of ``pympas label``. This module is the format's only definition.

A label set ``DIR/`` holds:

- ``labels.json``: ``{"format": "pympas-labelset", "format_version": 1, "pympas_version",
  "source", "height", "width", "params", "frame_count", "frames": [...]}``, one record per
  labelled frame: ``index`` (frame number in the video), ``image`` and ``mask`` (paths relative
  to DIR), ``tracked``, ``moving``, ``kept``, ``coverage``;
- ``frames/NNNNNN.png``: the labelled frames (colour), ``masks/NNNNNN.png``: the CRM
  pseudo-masks (0/255), NNNNNN the frame number;
- ``particles.npz``: positions, velocities, phi, cluster, keep (and, in sets made since links
  were recorded, links) of the moving particles of every labelled frame, concatenated, with
  ``offsets`` (L+1,);
- ``overlays/NNNNNN.png`` (optional): Fig. 3 style pictures.

A folder is a complete label set exactly when :func:`read_meta` accepts it: ``labels.json`` is
written last, inside a temporary folder that is renamed into place when everything is written.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pympas._version import __version__
from pympas.files import (
    AtomicFolder,
    read_image,
    read_mask,
    write_atomic,
    write_png,
    write_text_atomic,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LabelSet",
    "LabelSetError",
    "LabelSetWriter",
    "LabelledFrame",
    "Particles",
    "is_complete",
    "read_meta",
]

FORMAT = "pympas-labelset"
FORMAT_VERSION = 1
META = "labels.json"
FRAMES = "frames"
MASKS = "masks"
OVERLAYS = "overlays"
PARTICLES = "particles.npz"
#: per-frame counts kept in labels.json
COUNTS = ("tracked", "moving", "kept", "coverage")


class LabelSetError(ValueError):
    """A label-set folder that cannot be read; the message names the file."""


def _frame_file(index: int) -> str:
    return f"{index:06d}.png"


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The checked ``labels.json`` of the label set at ``path``.

    Checks the format name and version, the frame size, ``source`` and ``params``, and that
    ``frames`` lists at least one record with an integer ``index``, the per-frame counts, and an
    ``image`` and a ``mask`` whose files exist inside the folder, and that ``particles.npz``
    exists. Files are not decoded here.

    Raises:
        LabelSetError: (a ValueError) naming the file that is missing or wrong.
    """
    root = Path(path)
    meta_path = root / META
    if not root.is_dir():
        raise LabelSetError(f"{root}: label set folder not found")
    if not meta_path.is_file():
        raise LabelSetError(f"{meta_path}: missing; {root} is not a complete label set")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelSetError(f"{meta_path}: unreadable ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise LabelSetError(f"{meta_path}: not a {FORMAT} file (format={found!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise LabelSetError(
            f"{meta_path}: unsupported format_version {meta.get('format_version')!r} "
            f"(this pympas reads {FORMAT_VERSION})"
        )
    try:
        meta["height"], meta["width"] = int(meta["height"]), int(meta["width"])
    except (KeyError, TypeError, ValueError) as exc:
        raise LabelSetError(f"{meta_path}: no valid height/width") from exc
    if not isinstance(meta.get("source"), str):
        raise LabelSetError(f"{meta_path}: no 'source' (the video the labels come from)")
    if not isinstance(meta.get("params"), dict):
        raise LabelSetError(f"{meta_path}: 'params' must be an object, got {meta.get('params')!r}")
    records = meta.get("frames")
    if not isinstance(records, list) or not records:
        raise LabelSetError(f"{meta_path}: label set is empty (no frames)")
    for rec in records:
        if not isinstance(rec, dict) or not {"index", "image", "mask", *COUNTS} <= set(rec):
            raise LabelSetError(
                f"{meta_path}: frame entry without index/image/mask/{'/'.join(COUNTS)}: {rec!r}"
            )
        if not isinstance(rec["index"], int) or isinstance(rec["index"], bool):
            raise LabelSetError(f"{meta_path}: frame index must be an integer: {rec!r}")
        for key in ("image", "mask"):
            name = rec[key]
            if not isinstance(name, str) or Path(name).is_absolute() or ".." in Path(name).parts:
                raise LabelSetError(f"{meta_path}: {key} must be a path inside {root}: {rec!r}")
            if not (root / name).is_file():
                raise LabelSetError(f"{root / name}: missing ({meta_path} lists it)")
    if not (root / PARTICLES).is_file():
        raise LabelSetError(f"{root / PARTICLES}: missing; {root} is not a complete label set")
    return meta


def is_complete(path: str | os.PathLike) -> bool:
    """True if ``path`` holds a complete label set (see :func:`read_meta`)."""
    try:
        read_meta(path)
    except LabelSetError:
        return False
    return True


def is_labelset(path: str | os.PathLike) -> bool:
    """True if ``path`` looks like a label set (it has a ``labels.json``), complete or not."""
    return (Path(path) / META).is_file()


def masks_folder(path: str | os.PathLike) -> Path:
    """The folder of a label set's pseudo-masks."""
    return Path(path) / MASKS


@dataclass(frozen=True)
class Particles:
    """The moving particles of one labelled frame (those that entered the graph).

    Attributes:
        positions: (n, 2) float64 (x, y) pixel positions.
        velocities: (n, 2) float64 pixels per frame.
        phi: (n,) float64 individual collectiveness (Eq. 5).
        cluster: (n,) int64 collective-merging cluster, 1..C, 0 = outlier.
        keep: (n,) bool, in a cluster (these paint the CRM mask).
        links: (n,) int64, the number of j != i with Z[i, j] > 0.6 kappa (the particle's links
            in the collectiveness graph); None in label sets written before it was recorded.
    """

    positions: np.ndarray
    velocities: np.ndarray
    phi: np.ndarray
    cluster: np.ndarray
    keep: np.ndarray
    links: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.phi)


@dataclass(frozen=True)
class LabelledFrame:
    """One labelled frame as it leaves the pipeline."""

    index: int
    image: np.ndarray  # (H, W, 3) uint8 RGB
    mask: np.ndarray  # (H, W) bool
    particles: Particles
    tracked: int

    def record(self) -> dict[str, Any]:
        name = _frame_file(self.index)
        return {
            "index": self.index,
            "image": f"{FRAMES}/{name}",
            "mask": f"{MASKS}/{name}",
            "tracked": self.tracked,
            "moving": len(self.particles),
            "kept": int(self.particles.keep.sum()),
            "coverage": float(self.mask.mean()),
        }


@dataclass
class LabelSet:
    """Pseudo-labels of one video.

    Attributes:
        source: the video the labels come from.
        frame_indices: (L,) int64 frame numbers that got a pseudo-label.
        frames: (L, H, W, 3) uint8 RGB labelled frames.
        masks: (L, H, W) bool CRM pseudo-masks.
        particles: L :class:`Particles`, the moving particles of each labelled frame.
        params: the labelling parameters (as recorded in labels.json).
        counts: L dicts with tracked, moving, kept, coverage.
        frame_count: frames in the video.
        pympas_version: the version that made the labels.
    """

    source: str
    frame_indices: np.ndarray
    frames: np.ndarray
    masks: np.ndarray
    particles: list[Particles]
    params: dict[str, Any]
    counts: list[dict[str, Any]] = field(default_factory=list)
    frame_count: int | None = None
    pympas_version: str = __version__

    def __len__(self) -> int:
        return len(self.frame_indices)

    @property
    def height(self) -> int:
        return int(self.masks.shape[1])

    @property
    def width(self) -> int:
        return int(self.masks.shape[2])

    def _labelled(self, i: int) -> LabelledFrame:
        return LabelledFrame(
            int(self.frame_indices[i]),
            self.frames[i],
            self.masks[i],
            self.particles[i],
            int(self.counts[i]["tracked"]) if self.counts else len(self.particles[i]),
        )

    def overlay(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB picture of labelled frame ``i`` (Fig. 3 style, see
        :func:`pympas.draw.draw_particles`)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"labelled frame {i} out of range for {len(self)} labelled frames")
        from pympas.draw import draw_particles

        p = self.particles[i]
        return draw_particles(self.frames[i], self.masks[i], p.positions, p.keep)

    def save(
        self, out_dir: str | os.PathLike, overwrite: bool = False, overlays: bool = False
    ) -> Path:
        """Write the label set (labels.json, frames/, masks/, particles.npz; overlays/ if asked).

        The folder is written under a temporary name and renamed when complete, so it is never
        left half-written. An existing ``out_dir`` raises FileExistsError unless ``overwrite``.
        """
        meta = {
            "source": self.source,
            "height": self.height,
            "width": self.width,
            "params": self.params,
            "frame_count": self.frame_count,
        }
        with LabelSetWriter(out_dir, overwrite=overwrite, overlays=overlays) as writer:
            for i in range(len(self)):
                writer.add(self._labelled(i))
            writer.finish(meta)
        return Path(out_dir)

    def masks_by_frame(self) -> dict[int, np.ndarray]:
        """The pseudo-masks as frame index -> (H, W) bool."""
        return {int(i): m for i, m in zip(self.frame_indices, self.masks, strict=True)}

    def select(self, positions: Sequence[int] | np.ndarray) -> LabelSet:
        """The label set of the labelled frames at ``positions`` (0-based, in this set)."""
        idx = np.asarray(positions, dtype=np.int64)
        return dataclasses.replace(
            self,
            frame_indices=self.frame_indices[idx],
            frames=self.frames[idx],
            masks=self.masks[idx],
            particles=[self.particles[i] for i in idx],
            counts=[self.counts[i] for i in idx] if self.counts else [],
        )

    def split_alternate(self) -> tuple[LabelSet, LabelSet]:
        """(labelled frames 0, 2, 4, ...; labelled frames 1, 3, 5, ...): the first half trains,
        the second is held out, so that no score is taken on a frame a network trained on."""
        if len(self) < 2:
            raise ValueError(
                f"{self.source}: {len(self)} labelled frame(s); at least 2 are needed to hold "
                "one out (use more frames or a smaller stride)"
            )
        every = np.arange(len(self))
        return self.select(every[0::2]), self.select(every[1::2])

    @classmethod
    def load(cls, path: str | os.PathLike) -> LabelSet:
        """Read a label set written by :meth:`save` or ``pympas label``.

        Raises:
            LabelSetError: (a ValueError) naming the file that is missing, damaged or
                inconsistent (labels.json, a frame or mask, particles.npz).
        """
        import cv2

        root = Path(path)
        meta = read_meta(root)
        h, w = meta["height"], meta["width"]
        records = meta["frames"]
        frames = np.zeros((len(records), h, w, 3), dtype=np.uint8)
        masks = np.zeros((len(records), h, w), dtype=bool)
        for i, rec in enumerate(records):
            img = _decoded(root / rec["image"], lambda p: read_image(p, cv2.IMREAD_COLOR), (h, w))
            frames[i] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            masks[i] = _decoded(root / rec["mask"], read_mask, (h, w))
        particles = _read_particles(root / PARTICLES, len(records))
        counts = [{key: rec[key] for key in COUNTS} for rec in records]
        return cls(
            source=meta["source"],
            frame_indices=np.array([rec["index"] for rec in records], dtype=np.int64),
            frames=frames,
            masks=masks,
            particles=particles,
            params=meta["params"],
            counts=counts,
            frame_count=meta.get("frame_count"),
            pympas_version=meta.get("pympas_version", ""),
        )


def _decoded(path: Path, read: Any, shape: tuple[int, int]) -> np.ndarray:
    """``read(path)`` checked to have the frame size; LabelSetError naming ``path``."""
    try:
        arr = read(path)
    except (OSError, ValueError) as exc:
        raise LabelSetError(f"{path}: missing, unreadable or damaged ({exc})") from exc
    if arr.shape[:2] != shape:
        raise LabelSetError(
            f"{path}: is {arr.shape[1]}x{arr.shape[0]}, the label set is {shape[1]}x{shape[0]}"
        )
    return arr


#: particles.npz: name -> (trailing shape, dtype kind)
_PARTICLE_ARRAYS = {
    "positions": ((2,), "f"),
    "velocities": ((2,), "f"),
    "phi": ((), "f"),
    "cluster": ((), "iu"),
    "keep": ((), "b"),
}


def _read_particles(npz_path: Path, frames: int) -> list[Particles]:
    """The per-frame particles of ``particles.npz``, checked; LabelSetError naming the file."""
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (
        OSError, ValueError, EOFError, KeyError, TypeError, AttributeError, UnicodeDecodeError,
        zipfile.BadZipFile, zlib.error,
    ) as exc:  # fmt: skip
        raise LabelSetError(f"{npz_path}: unreadable ({type(exc).__name__}: {exc})") from exc
    missing = [key for key in (*_PARTICLE_ARRAYS, "offsets") if key not in arrays]
    if missing:
        raise LabelSetError(f"{npz_path}: has no array {', '.join(missing)}")
    offsets = arrays["offsets"]
    if offsets.dtype.kind not in "iu" or offsets.shape != (frames + 1,):
        raise LabelSetError(
            f"{npz_path}: offsets must be {frames + 1} integers (one more than the frames), "
            f"got {offsets.dtype} {offsets.shape}"
        )
    n = len(arrays["phi"]) if arrays["phi"].ndim == 1 else -1
    for key, (tail, kinds) in _PARTICLE_ARRAYS.items():
        arr = arrays[key]
        if arr.dtype.kind not in kinds or arr.shape != (n, *tail):
            raise LabelSetError(
                f"{npz_path}: {key} must be ({n}{''.join(f', {t}' for t in tail)}) of kind "
                f"{kinds!r}, got {arr.dtype} {arr.shape}"
            )
    links = arrays.get("links")  # optional: sets written before links were recorded have none
    if links is not None and (links.dtype.kind not in "iu" or links.shape != (n,)):
        raise LabelSetError(
            f"{npz_path}: links must be ({n},) of kind 'iu', got {links.dtype} {links.shape}"
        )
    if offsets[0] != 0 or offsets[-1] != n or np.any(np.diff(offsets) < 0):
        raise LabelSetError(
            f"{npz_path}: offsets must rise monotonically from 0 to the {n} particles, got "
            f"{offsets.tolist()[:8]}{'...' if len(offsets) > 8 else ''}"
        )
    return [
        Particles(
            *(arrays[key][lo:hi] for key in _PARTICLE_ARRAYS),
            links=None if links is None else links[lo:hi].astype(np.int64),
        )
        for lo, hi in itertools.pairwise(offsets.tolist())
    ]


class LabelSetWriter:
    """Streams labelled frames into a temporary folder beside ``out_dir`` and renames it into
    place on :meth:`finish` (a :class:`pympas.files.AtomicFolder`); leaving the ``with`` block
    without finishing removes it."""

    def __init__(self, out_dir: str | os.PathLike, overwrite: bool = False, overlays: bool = False):
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not overwrite:
            raise FileExistsError(
                f"{self.out_dir}: already exists (pass overwrite=True to replace it)"
            )
        self._folder = AtomicFolder(self.out_dir, overwrite=overwrite)
        self.tmp = self._folder.path
        for sub in (FRAMES, MASKS) + ((OVERLAYS,) if overlays else ()):
            (self.tmp / sub).mkdir()
        self.overlays = overlays
        self.records: list[dict[str, Any]] = []
        self._parts: list[Particles] = []
        self._done = False

    def __enter__(self) -> LabelSetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            self._folder.discard()

    def add(self, item: LabelledFrame) -> None:
        """Write one labelled frame's image, mask (and overlay) into the temporary folder."""
        rec = item.record()
        write_png(self.tmp / rec["image"], item.image)
        write_png(self.tmp / rec["mask"], item.mask)
        if self.overlays:
            from pympas.draw import draw_particles

            p = item.particles
            over = draw_particles(item.image, item.mask, p.positions, p.keep)
            write_png(self.tmp / OVERLAYS / _frame_file(item.index), over)
        self.records.append(rec)
        self._parts.append(item.particles)

    def finish(self, meta: dict[str, Any]) -> Path:
        """Write particles.npz and labels.json, then move the folder to ``out_dir``.

        Raises:
            OSError: naming the file that could not be written (full disk); nothing reaches
                ``out_dir``.
            FileExistsError: another writer completed ``out_dir`` meanwhile (it is kept).
        """
        try:
            return self._finish(meta)
        except BaseException:
            self._folder.discard()
            raise

    def _finish(self, meta: dict[str, Any]) -> Path:
        parts = self._parts
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)

        def cat(key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
            arrays = [getattr(p, key) for p in parts]
            return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(shape, dtype)

        arrays = {
            "positions": cat("positions", (0, 2), np.float64),
            "velocities": cat("velocities", (0, 2), np.float64),
            "phi": cat("phi", (0,), np.float64),
            "cluster": cat("cluster", (0,), np.int64),
            "keep": cat("keep", (0,), bool),
            "offsets": offsets,
        }
        if all(p.links is not None for p in parts):
            arrays["links"] = cat("links", (0,), np.int64)
        write_atomic(self.tmp / PARTICLES, lambda fh: np.savez_compressed(fh, **arrays))
        doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "pympas_version": __version__}
        doc.update(meta)
        doc["frames"] = self.records
        write_text_atomic(self.tmp / META, json.dumps(doc, indent=1) + "\n")
        self._folder.commit()
        self._done = True
        return self.out_dir
