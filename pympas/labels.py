"""Motion-prior pseudo-labels (MPASNet Sec. 2.2, Fig. 3): KLT particles -> collectiveness
thresholding -> Circular Region Merging, for every ``stride``-th frame of a video.

Per labelled frame t (t = 0, stride, 2 stride, ...):

1. particles alive at t get a velocity from a centred 5-frame window (:mod:`pympas.particles`);
   with ``tracking="window"`` (the default) only the frames t - 2 .. t + 2 are tracked, from
   corners detected at t - 2 and t, and the other frames are only read (a video file only
   decodes them); with ``tracking="continuous"`` every frame is tracked and a particle may be a
   track many frames old. Those slower than ``min_speed`` pixels per frame are the static
   background of a fixed camera and never enter the graph;
2. the moving particles' collectiveness (Eqs. 1-5) links particles with Z > 0.6 kappa, and
   collective merging keeps clusters of at least ``min_cluster_size`` particles (the rest are
   outliers);
3. CRM: the pseudo-mask is the union of discs of ``radius`` pixels around the kept particles.

Frames are streamed; only the labelled frames are kept, and the collectiveness of the labelled
frames is computed in batches of ``_BATCH`` frames.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import pympas._validate as _validate
from pympas.collectiveness import MIN_CLUSTER_SIZE, collectiveness_batch, link_threshold
from pympas.crm import RADIUS, crm_masks
from pympas.device import is_cuda, parse_device, resolve_device
from pympas.knn import K
from pympas.labelset import LabelledFrame, LabelSet, Particles
from pympas.particles import KLTParams, ParticleTracker, VelocityWindow, WindowedTracker
from pympas.video import VideoError, open_video

__all__ = ["NoMotionWarning", "Stopped", "check_params", "label", "label_stream"]

HALF_WINDOW = 2  # velocity window t-2..t+2 (5 frames)
TRACKING = ("window", "continuous")
_BATCH = 8  # labelled frames per collectiveness_batch call


class NoMotionWarning(UserWarning):
    """A video in which no collective motion was found: its pseudo-masks are empty."""


class Stopped(Exception):
    """Labelling was asked to stop (``pympas label`` interrupted)."""


def check_params(
    stride: Any,
    radius: Any,
    k: Any,
    z: Any,
    max_particles: Any,
    min_speed: Any,
    min_cluster_size: Any,
    device: Any,
    tracking: Any,
) -> dict[str, Any]:
    """The labelling parameters checked (errors name the parameter) and completed, as recorded
    in a label set's ``labels.json``: ``z`` resolved, ``tracking`` resolved ("window" with a
    stride at most the velocity window's length is "continuous": the windows cover every
    frame), the velocity window, the KLT settings and the link threshold 0.6 kappa."""
    stride = _validate.integer("stride", stride, 1)
    radius = _validate.length("radius", radius)
    k = _validate.integer("k", k, 1)
    z = _validate.coupling(z, k)
    max_particles = _validate.integer("max_particles", max_particles, 1)
    min_speed = _validate.real("min_speed", min_speed)
    if min_speed < 0:
        raise ValueError(f"min_speed must be >= 0, got {min_speed}")
    min_cluster_size = _validate.integer("min_cluster_size", min_cluster_size, 1)
    device = parse_device(device, allow_auto=True)
    if not isinstance(tracking, str) or tracking not in TRACKING:
        raise ValueError(f"tracking must be 'window' or 'continuous', got {tracking!r}")
    if tracking == "window" and stride <= 2 * HALF_WINDOW + 1:
        tracking = "continuous"
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
        "tracking": tracking,
        "klt": KLTParams(max_particles=max_particles).as_dict(),
        "threshold": link_threshold(k, z),
    }


def _finish_batch(
    batch: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
    params: dict[str, Any],
    shape: tuple[int, int],
    device: str,
) -> list[LabelledFrame]:
    """Collectiveness and CRM of a batch of labelled frames (t, image, positions, velocities)."""
    if not batch:
        return []
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
        device=device,
    )
    if is_cuda(device):  # torch CUDA tensors -> NumPy, as the label set stores them
        res = dataclasses.replace(
            res, **{f: getattr(res, f).cpu().numpy() for f in ("phi", "edges", "clusters")},
            offsets=offsets,
        )  # fmt: skip
    # CRM: union of radius-r discs around the kept particles.
    masks = crm_masks(all_pts, res.keep, offsets, *shape, params["radius"], device=device)
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
    :func:`check_params`. ``stats`` (if given) receives source, height, width, frame_count.
    ``stop`` is polled every frame; when it returns True the stream raises :class:`Stopped`."""
    from tqdm.auto import tqdm

    source = open_video(video)
    device = resolve_device(params["device"])  # "auto": decided once per video
    klt = KLTParams(max_particles=params["max_particles"])
    stride = params["stride"]
    windowed = params["tracking"] == "window"
    tracker = WindowedTracker(stride, HALF_WINDOW, klt) if windowed else ParticleTracker(klt)
    # Windowed: frames outside every window are skipped (a video file only grabs them).
    skip = (lambda f: not tracker.tracks(f)) if windowed else None
    window = VelocityWindow(HALF_WINDOW)
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
        for item in _finish_batch(batch, params, source.shape, device):
            totals["kept"] += int(item.particles.keep.sum())
            totals["moving"] += len(item.particles)
            yield item

    n = 0
    with tqdm(**bar_args) as bar:
        for n, frame in enumerate(source.frames(skip), start=1):
            f = n - 1
            if frame is not None:
                gray = source.to_gray(frame)
                ids, pos = tracker.step(f, gray) if windowed else tracker.step(gray)
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
    radius: float = RADIUS,
    k: int = K,
    z: float | None = None,
    max_particles: int = 3000,
    min_speed: float = 0.3,
    min_cluster_size: int = MIN_CLUSTER_SIZE,
    device: str = "auto",
    tracking: str = "window",
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
        device: where collectiveness and CRM run: "auto" (a CUDA GPU when one can be used),
            "cpu", "cuda" or "cuda:N" (see :mod:`pympas.device`); KLT tracking runs on the CPU.
            The masks are the same on every device.
        tracking: "window" tracks only the frames t - 2 .. t + 2 around each labelled frame t,
            from corners detected at t - 2 and t (the other frames are only read, and a video
            file only decodes them: several times faster at stride 20, see
            ``benchmarks/bench_label.py``); "continuous" tracks every frame, so particles may
            be tracks many frames old. Velocities are the same centred difference in both. With
            stride <= 5 the windows cover every frame and "window" tracks continuously
            (recorded as "continuous").
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
    params = check_params(
        stride, radius, k, z, max_particles, min_speed, min_cluster_size, device, tracking
    )
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
