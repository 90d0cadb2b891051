"""Motion-prior pseudo-labels (MPASNet Sec. 2.2, Fig. 3): KLT particles -> collectiveness
thresholding -> Circular Region Merging, for every ``stride``-th frame of a video.

Per labelled frame t (t = 0, stride, 2 stride, ...):

1. particles alive at t get a velocity from a centred 5-frame window (:mod:`pympas.particles`);
   those slower than ``min_speed`` pixels per frame are the static background of a fixed camera
   and never enter the graph;
2. the moving particles' collectiveness (Eqs. 1-5) links particles with Z > 0.6 kappa, and
   collective merging keeps clusters of at least ``min_cluster_size`` particles (the rest are
   outliers);
3. CRM: the pseudo-mask is the union of discs of ``radius`` pixels around the kept particles.

Frames are streamed; only the labelled frames are kept, and the collectiveness of the labelled
frames is computed in batches of ``_BATCH`` frames.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import shutil
import socket
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pympas import _validate
from pympas._version import __version__
from pympas.particles import KLTParams, ParticleTracker, VelocityWindow
from pympas.video import VideoError, open_video

__all__ = ["LabelSet", "LabelSetError", "NoMotionWarning", "Particles", "draw_overlay", "label"]

FORMAT = "pympas-labelset"
FORMAT_VERSION = 1
HALF_WINDOW = 2  # velocity window t-2..t+2 (5 frames)
_BATCH = 8  # labelled frames per collectiveness_batch call

# Overlay colours (RGB), after the paper's Fig. 3.
_KEPT = (0, 255, 0)
_OUTLIER = (255, 0, 0)
_EDGE = (255, 255, 0)


class NoMotionWarning(UserWarning):
    """A video in which no collective motion was found: its pseudo-masks are empty."""


class Stopped(Exception):
    """Labelling was asked to stop (``pympas label`` interrupted)."""


class LabelSetError(ValueError):
    """A label-set folder that cannot be read; the message names the file."""


@dataclass(frozen=True)
class Particles:
    """The moving particles of one labelled frame (those that entered the graph).

    Attributes:
        positions: (n, 2) float64 (x, y) pixel positions.
        velocities: (n, 2) float64 pixels per frame.
        phi: (n,) float64 individual collectiveness (Eq. 5).
        cluster: (n,) int64 collective-merging cluster, 1..C, 0 = outlier.
        keep: (n,) bool, in a cluster (these paint the CRM mask).
    """

    positions: np.ndarray
    velocities: np.ndarray
    phi: np.ndarray
    cluster: np.ndarray
    keep: np.ndarray

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
        name = f"{self.index:06d}.png"
        return {
            "index": self.index,
            "image": f"frames/{name}",
            "mask": f"masks/{name}",
            "tracked": self.tracked,
            "moving": len(self.particles),
            "kept": int(self.particles.keep.sum()),
            "coverage": float(self.mask.mean()),
        }


def draw_overlay(image: np.ndarray, mask: np.ndarray, particles: Particles) -> np.ndarray:
    """Fig. 3 style picture: the frame, kept particles as green dots, outliers as red crosses and
    the pseudo-mask edge in yellow.

    Args:
        image: (H, W, 3) uint8 RGB frame.
        mask: (H, W) bool pseudo-mask.
        particles: the frame's moving particles.

    Returns:
        (H, W, 3) uint8 RGB image.
    """
    import cv2

    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, _EDGE, 2)
    pts = np.rint(particles.positions).astype(np.int32)
    for (x, y), kept in zip(pts, particles.keep, strict=True):
        if kept:
            cv2.circle(out, (int(x), int(y)), 2, _KEPT, -1)
        else:
            cv2.drawMarker(out, (int(x), int(y)), _OUTLIER, cv2.MARKER_TILTED_CROSS, 6, 1)
    return out


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
        """(H, W, 3) uint8 RGB picture of labelled frame ``i`` (see :func:`draw_overlay`)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"labelled frame {i} out of range for {len(self)} labelled frames")
        return draw_overlay(self.frames[i], self.masks[i], self.particles[i])

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

    @classmethod
    def load(cls, path: str | os.PathLike) -> LabelSet:
        """Read a label set written by :meth:`save` or ``pympas label``."""
        import cv2

        root = Path(path)
        meta_path = root / "labels.json"
        if not meta_path.is_file():
            raise LabelSetError(f"{meta_path}: missing; {root} is not a complete label set")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LabelSetError(f"{meta_path}: unreadable ({exc})") from exc
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise LabelSetError(
                f"{meta_path}: not a {FORMAT} version {FORMAT_VERSION} file "
                f"(format={meta.get('format')!r}, version={meta.get('format_version')!r})"
            )
        h, w = int(meta["height"]), int(meta["width"])
        records = meta["frames"]
        frames = np.zeros((len(records), h, w, 3), dtype=np.uint8)
        masks = np.zeros((len(records), h, w), dtype=bool)
        for i, rec in enumerate(records):
            img = cv2.imread(str(root / rec["image"]), cv2.IMREAD_COLOR)
            mask = cv2.imread(str(root / rec["mask"]), cv2.IMREAD_GRAYSCALE)
            for name, arr in ((rec["image"], img), (rec["mask"], mask)):
                if arr is None or arr.shape[:2] != (h, w):
                    raise LabelSetError(f"{root / name}: missing, unreadable or not {w}x{h}")
            frames[i] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            masks[i] = mask > 127
        npz_path = root / "particles.npz"
        try:
            with np.load(npz_path) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except (OSError, ValueError) as exc:
            raise LabelSetError(f"{npz_path}: unreadable ({exc})") from exc
        offsets = arrays["offsets"]
        if len(offsets) != len(records) + 1:
            raise LabelSetError(f"{npz_path}: offsets do not match the {len(records)} frames")
        particles = [
            Particles(
                *(
                    arrays[key][lo:hi]
                    for key in ("positions", "velocities", "phi", "cluster", "keep")
                )
            )
            for lo, hi in itertools.pairwise(offsets)
        ]
        counts = [
            {key: rec[key] for key in ("tracked", "moving", "kept", "coverage")} for rec in records
        ]
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


def _temp_head(out_dir: Path) -> str:
    """Name prefix of the temporary folders of ``out_dir`` on this host (``.NAME.tmp-HOST-``);
    a writer's own folder follows it with ``PID-``."""
    return f".{out_dir.name}.tmp-{socket.gethostname()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a pid we can probe: leave it alone
    return True


def _remove_abandoned_temporaries(out_dir: Path) -> None:
    """Remove temporary folders of ``out_dir`` left by writers on this host that were killed
    (SIGKILL, power loss) before they could clean up; folders of live writers are kept."""
    head = _temp_head(out_dir)
    for entry in out_dir.parent.glob(glob.escape(head) + "*"):
        pid_text = entry.name[len(head) :].split("-", 1)[0]
        if entry.is_dir() and pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(entry, ignore_errors=True)


class LabelSetWriter:
    """Streams labelled frames into a temporary folder beside ``out_dir`` and renames it into
    place on :meth:`finish`; leaving the ``with`` block without finishing removes it."""

    def __init__(self, out_dir: str | os.PathLike, overwrite: bool = False, overlays: bool = False):
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not overwrite:
            raise FileExistsError(
                f"{self.out_dir}: already exists (pass overwrite=True to replace it)"
            )
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_temporaries(self.out_dir)
        prefix = f"{_temp_head(self.out_dir)}{os.getpid()}-"
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=self.out_dir.parent))
        for sub in ("frames", "masks") + (("overlays",) if overlays else ()):
            (self.tmp / sub).mkdir()
        self.overlays = overlays
        self.records: list[dict[str, Any]] = []
        self._parts: list[Particles] = []
        self._done = False

    def __enter__(self) -> LabelSetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def add(self, item: LabelledFrame) -> None:
        import cv2

        rec = item.record()
        name = f"{item.index:06d}.png"
        _imwrite(self.tmp / rec["image"], cv2.cvtColor(item.image, cv2.COLOR_RGB2BGR))
        _imwrite(self.tmp / rec["mask"], item.mask.astype(np.uint8) * 255)
        if self.overlays:
            over = draw_overlay(item.image, item.mask, item.particles)
            _imwrite(self.tmp / "overlays" / name, cv2.cvtColor(over, cv2.COLOR_RGB2BGR))
        self.records.append(rec)
        self._parts.append(item.particles)

    def finish(self, meta: dict[str, Any]) -> Path:
        """Write particles.npz and labels.json, then move the folder to ``out_dir``."""
        parts = self._parts
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)

        def cat(key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
            arrays = [getattr(p, key) for p in parts]
            return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(shape, dtype)

        np.savez_compressed(
            self.tmp / "particles.npz",
            positions=cat("positions", (0, 2), np.float64),
            velocities=cat("velocities", (0, 2), np.float64),
            phi=cat("phi", (0,), np.float64),
            cluster=cat("cluster", (0,), np.int64),
            keep=cat("keep", (0,), bool),
            offsets=offsets,
        )
        doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "pympas_version": __version__}
        doc.update(meta)
        doc["frames"] = self.records
        (self.tmp / "labels.json").write_text(json.dumps(doc, indent=1) + "\n")
        old = None
        if self.out_dir.exists():  # overwrite: move the old set aside, then swap
            old = Path(
                tempfile.mkdtemp(prefix=f".{self.out_dir.name}.old-", dir=self.out_dir.parent)
            )
            os.replace(self.out_dir, old / "set")
        os.replace(self.tmp, self.out_dir)
        self._done = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out_dir


def _imwrite(path: Path, image: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(str(path), image):
        raise OSError(f"{path}: could not be written")


def _check_params(
    stride: Any,
    radius: Any,
    k: Any,
    z: Any,
    max_particles: Any,
    min_speed: Any,
    min_cluster_size: Any,
    device: Any,
) -> dict[str, Any]:
    stride = _validate.integer("stride", stride, 1)
    radius = _validate.real("radius", radius)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    k = _validate.integer("k", k, 1)
    z = _validate.coupling(z, k)
    max_particles = _validate.integer("max_particles", max_particles, 1)
    min_speed = _validate.real("min_speed", min_speed)
    if min_speed < 0:
        raise ValueError(f"min_speed must be >= 0, got {min_speed}")
    min_cluster_size = _validate.integer("min_cluster_size", min_cluster_size, 1)
    if device not in ("auto", "cpu"):
        raise ValueError(f"device must be 'auto' or 'cpu' (no GPU path yet), got {device!r}")
    return {
        "stride": stride,
        "radius": radius,
        "k": k,
        "z": z,
        "max_particles": max_particles,
        "min_speed": min_speed,
        "min_cluster_size": min_cluster_size,
        "velocity_window": 2 * HALF_WINDOW + 1,
        "device": device,
        "klt": KLTParams(max_particles=max_particles).as_dict(),
        "threshold": 0.6 * z / (1.0 - z * k),
    }


def _finish_batch(
    batch: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
    params: dict[str, Any],
    shape: tuple[int, int],
) -> list[LabelledFrame]:
    """Collectiveness and CRM of a batch of labelled frames (t, image, positions, velocities)."""
    if not batch:
        return []
    from pympas.collectiveness import collectiveness_batch
    from pympas.rasterize import rasterize_circles

    # Static particles (fixed camera background) never enter the graph.
    moving = [np.hypot(v[:, 0], v[:, 1]) >= params["min_speed"] for _, _, _, v in batch]
    pts = [p[m] for (_, _, p, _), m in zip(batch, moving, strict=True)]
    vel = [v[m] for (_, _, _, v), m in zip(batch, moving, strict=True)]
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in pts])]).astype(np.int64)
    all_pts = np.concatenate(pts) if pts else np.zeros((0, 2))
    # Eqs. 1-5: W, Z, phi; links Z > 0.6 kappa; collective merging keeps clusters >= min size.
    res = collectiveness_batch(
        all_pts,
        np.concatenate(vel) if vel else np.zeros((0, 2)),
        offsets,
        k=params["k"],
        z=params["z"],
        min_cluster_size=params["min_cluster_size"],
    )
    keep = res.clusters > 0
    kept_offsets = np.searchsorted(np.flatnonzero(keep), offsets).astype(np.int64)
    # CRM: union of radius-r discs around the kept particles.
    masks = rasterize_circles(all_pts[keep], kept_offsets, shape[0], shape[1], params["radius"])
    out = []
    for f, (t, image, p, _) in enumerate(batch):
        one = res.frame(f)
        lo, hi = offsets[f], offsets[f + 1]
        parts = Particles(all_pts[lo:hi], vel[f], one.phi, one.clusters, one.clusters > 0)
        out.append(LabelledFrame(t, image, masks[f], parts, tracked=len(p)))
    return out


def label_stream(
    video: Any,
    params: dict[str, Any],
    progress: bool | dict[str, Any] = True,
    stats: dict[str, Any] | None = None,
    stop: Callable[[], bool] | None = None,
) -> Iterator[LabelledFrame]:
    """The pipeline as a stream of :class:`LabelledFrame` (bounded memory); ``params`` from
    :func:`_check_params`. ``stats`` (if given) receives source, height, width, frame_count.
    ``stop`` is polled every frame; when it returns True the stream raises :class:`Stopped`."""
    from tqdm.auto import tqdm

    source = open_video(video)
    tracker = ParticleTracker(KLTParams(max_particles=params["max_particles"]))
    window = VelocityWindow(HALF_WINDOW)
    stride = params["stride"]
    images: dict[int, np.ndarray] = {}
    batch: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    bar_args = {
        "desc": Path(source.name).name,
        "unit": "frame",
        "total": source.length,
        "leave": False,
        "disable": not progress,
    }
    if isinstance(progress, dict):
        bar_args.update(progress)
    totals = {"kept": 0, "moving": 0}

    def finish(
        batch: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
    ) -> Iterator[LabelledFrame]:
        for item in _finish_batch(batch, params, source.shape):
            totals["kept"] += int(item.particles.keep.sum())
            totals["moving"] += len(item.particles)
            yield item

    n = 0
    with tqdm(**bar_args) as bar:
        for n, frame in enumerate(source, start=1):
            f = n - 1
            ids, pos = tracker.step(source.to_gray(frame))
            wanted = f % stride == 0
            if wanted:
                images[f] = source.to_rgb(frame)
            for t, p, v in window.push(f, ids, pos, wanted):
                batch.append((t, images.pop(t), p, v))
            if len(batch) >= _BATCH:
                yield from finish(batch)
                batch = []
            bar.update()
            if stop is not None and stop():
                raise Stopped(f"{source.name}: stopped at frame {f}")
        for t, p, v in window.flush():
            batch.append((t, images.pop(t), p, v))
        yield from finish(batch)
    if stats is not None:
        stats.update(
            source=source.name, height=source.shape[0], width=source.shape[1], frame_count=n
        )
    if totals["kept"] == 0:
        why = "no moving particles" if totals["moving"] == 0 else "no collective motion"
        warnings.warn(
            f"{source.name}: {why} found; every pseudo-mask is empty", NoMotionWarning, stacklevel=3
        )


def label(
    video: Any,
    *,
    stride: int = 20,
    radius: float = 20,
    k: int = 20,
    z: float | None = None,
    max_particles: int = 3000,
    min_speed: float = 0.3,
    min_cluster_size: int = 10,
    device: str = "auto",
    progress: bool = True,
) -> LabelSet:
    """Motion-prior pseudo-labels of a video (MPASNet Sec. 2.2, Fig. 3).

    Args:
        video: a video file path, a folder of images (natural sort), an array (T, H, W) or
            (T, H, W, 3) (RGB), or an iterable of frames; see :func:`pympas.video.open_video`.
        stride: label frames 0, stride, 2 stride, ... (the paper: one frame in 20).
        radius: CRM disc radius in pixels (the paper: 20).
        k: neighbours K of the collectiveness graph (the paper: 20).
        z: walk coupling in (0, 1/K); None = 1/(2K) as in the paper.
        max_particles: most KLT tracks alive at once.
        min_speed: particles slower than this (pixels per frame) are static background.
        min_cluster_size: collective-merging clusters smaller than this are outliers.
        device: "auto" or "cpu".
        progress: show a tqdm progress bar.

    Returns:
        A :class:`LabelSet` with frame_indices (L,), frames (L, H, W, 3), masks (L, H, W) and
        particles (L entries), L = ceil(T / stride) for a T-frame video. Frames are streamed;
        only the L labelled frames are held (``pympas label`` writes them to disk as it goes).

    Raises:
        pympas.video.VideoError: (a ValueError) the video cannot be labelled; names the source.
        ValueError, TypeError: a parameter out of range; names the parameter.

    Warns:
        NoMotionWarning: no collective motion anywhere, so every mask is empty.
    """
    params = _check_params(stride, radius, k, z, max_particles, min_speed, min_cluster_size, device)
    stats: dict[str, Any] = {}
    items = list(label_stream(video, params, progress, stats))
    if not items:  # pragma: no cover - a >= 2 frame video always has frame 0 labelled
        raise VideoError(f"{stats.get('source', 'video')}: no frame was labelled")
    return LabelSet(
        source=stats["source"],
        frame_indices=np.array([it.index for it in items], dtype=np.int64),
        frames=np.stack([it.image for it in items]),
        masks=np.stack([it.mask for it in items]),
        particles=[it.particles for it in items],
        params=params,
        frame_count=stats["frame_count"],
        counts=[
            {key: it.record()[key] for key in ("tracked", "moving", "kept", "coverage")}
            for it in items
        ],
    )
