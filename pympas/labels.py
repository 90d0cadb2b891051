"""Motion-prior pseudo-labels (MPASNet Sec. 2.2, Fig. 3): KLT particles -> collectiveness
thresholding -> Circular Region Merging, for every ``stride``-th frame of a video.

Per labelled frame t (t = 0, stride, 2 stride, ...):

1. particles alive at t get a velocity from a centred 5-frame window (:mod:`pympas.particles`;
   ``velocity="forward"``: the next position minus this one, the authors' convention);
   with ``tracking="window"`` (the default) only the frames t - 2 .. t + 2 are tracked, from
   corners detected at t - 2 and t, and the other frames are only read (a video file only
   decodes them); with ``tracking="continuous"`` every frame is tracked and a particle may be a
   track many frames old. With ``tracks=PATH`` the particles come from a trajectory file of the
   crowd-motion datasets instead (:mod:`pympas.trajectories`; file frame t + 1 is video frame
   t) and the video, if any, gives only the frame size and the frames. Those slower than
   ``min_speed`` pixels per frame are the static background of a fixed camera and never enter
   the graph;
2. the moving particles' collectiveness (Eqs. 1-5) links particles with Z > 0.6 kappa, and
   collective merging keeps clusters of at least ``min_cluster_size`` particles (the rest are
   outliers);
3. CRM: the pseudo-mask is the union of discs of ``radius`` pixels around the kept particles.

Frames are streamed; only the labelled frames are kept, and the collectiveness of the labelled
frames is computed in batches of ``_BATCH`` frames.
"""

from __future__ import annotations

import dataclasses
import os
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
from pympas.trajectories import VELOCITY, Trajectories, read_trajectories
from pympas.video import VideoError, open_video

__all__ = [
    "NoMotionWarning",
    "Stopped",
    "check_params",
    "label",
    "label_stream",
    "recorded_params",
]

HALF_WINDOW = 2  # velocity window t-2..t+2 (5 frames)
TRACKING = ("window", "continuous")
#: ``params["tracking"]`` of labels made from a trajectory file (``tracks=PATH``)
FROM_FILE = "file"
#: parameters added since the first label sets, with the value those sets were made with
_ADDED_PARAMS = {
    "velocity": "centred",
    "clamp_negative": True,
    "tracks": None,
    "max_frames": None,
    "duration": None,
}
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
    velocity: Any = "centred",
    clamp_negative: Any = True,
    tracks: Any = None,
    max_frames: Any = None,
    duration: Any = None,
) -> dict[str, Any]:
    """The labelling parameters checked (errors name the parameter) and completed, as recorded
    in a label set's ``labels.json``: ``z`` resolved, ``tracking`` resolved ("window" with a
    stride at most the velocity window's length is "continuous": the windows cover every
    frame; "file" with ``tracks``), ``tracks`` as an absolute path, the velocity window, the KLT
    settings (None with ``tracks``), the link threshold 0.6 kappa and the bounds on the frames
    read (``max_frames``, ``duration``; None: none)."""
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
    if not isinstance(velocity, str) or velocity not in VELOCITY:
        raise ValueError(f"velocity must be 'centred' or 'forward', got {velocity!r}")
    clamp_negative = _validate.flag("clamp_negative", clamp_negative)
    if tracks is not None:
        if not isinstance(tracks, (str, os.PathLike)):
            raise TypeError(f"tracks must be a path to a trajectory file, got {tracks!r}")
        if not Path(tracks).is_file():
            raise ValueError(f"tracks {tracks}: no such trajectory file")
        tracks = str(Path(tracks).resolve())
        tracking = FROM_FILE
    max_frames, duration = _validate.frame_bounds(max_frames, duration, min_frames=2)
    return {
        "stride": stride,
        "radius": radius,
        "k": k,
        "z": z,
        "max_particles": max_particles,
        "min_speed": min_speed,
        "min_cluster_size": min_cluster_size,
        "velocity": velocity,
        "velocity_window": 2 * HALF_WINDOW + 1 if velocity == "centred" else 2,
        "clamp_negative": clamp_negative,
        "device": device,
        "tracking": tracking,
        "tracks": tracks,
        "klt": None if tracks else KLTParams(max_particles=max_particles).as_dict(),
        "threshold": link_threshold(k, z),
        "max_frames": max_frames,
        "duration": duration,
    }


def recorded_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters recorded in a label set's labels.json, completed with the values that
    parameters added since (``velocity``, ``clamp_negative``, ``tracks``, ``max_frames``,
    ``duration``) had before they existed, so that older label sets compare equal to the same
    labelling today."""
    return {**_ADDED_PARAMS, **params}


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
        clamp_negative=params.get("clamp_negative", True),
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
        links = np.bincount(one.edges[:, 0], minlength=hi - lo).astype(np.int64)
        parts = Particles(all_pts[lo:hi], vel[f], one.phi, one.clusters, one.clusters > 0, links)
        out.append(LabelledFrame(t, image, masks[f], parts, tracked=len(p)))
    return out


#: a labelled frame before collectiveness: (t, RGB image, positions (n, 2), velocities (n, 2))
_Raw = tuple[int, np.ndarray, np.ndarray, np.ndarray]


def _klt_particles(
    source: Any, params: dict[str, Any], tick: Callable[[int], None]
) -> Iterator[_Raw]:
    """The labelled frames of ``source`` with their KLT particles (windowed or continuous)."""
    klt = KLTParams(max_particles=params["max_particles"])
    stride = params["stride"]
    windowed = params["tracking"] == "window"
    tracker = WindowedTracker(stride, HALF_WINDOW, klt) if windowed else ParticleTracker(klt)
    # Windowed: frames outside every window are skipped (a video file only grabs them).
    skip = (lambda f: not tracker.tracks(f)) if windowed else None
    window = VelocityWindow(HALF_WINDOW, params.get("velocity", "centred"))
    images: dict[int, np.ndarray] = {}
    for f, frame in enumerate(source.frames(skip)):
        if frame is not None:
            gray = source.to_gray(frame)
            ids, pos = tracker.step(f, gray) if windowed else tracker.step(gray)
            wanted = f % stride == 0
            if wanted:
                images[f] = source.to_rgb(frame)
            for t, p, v in window.push(f, ids, pos, wanted):
                yield t, images.pop(t), p, v
        tick(f)
    for t, p, v in window.flush():
        yield t, images.pop(t), p, v


def _file_particles(
    source: Any,
    tracks: Trajectories,
    size: tuple[int, int] | None,
    params: dict[str, Any],
    tick: Callable[[int], None],
) -> Iterator[_Raw]:
    """The labelled frames with the particles of a trajectory file (file frame t + 1 is frame
    t); the frames come from ``source``, or are black frames of ``size`` when it is None."""
    stride, velocity = params["stride"], params["velocity"]
    if source is None:
        assert size is not None
        tracks.check_inside(*size)
        black = np.zeros((*size, 3), np.uint8)
        if tracks.last_frame < 2:
            raise VideoError(
                f"{tracks.path}: its trajectories span {tracks.last_frame} frame(s); at least 2 "
                "are needed for motion"
            )
        count = tracks.last_frame
        if params.get("max_frames") is not None:
            count = min(count, params["max_frames"])
        for f in range(count):
            if f % stride == 0:
                yield (f, black, *tracks.particles(f + 1, velocity)[:2])
            tick(f)
        return
    n = 0
    for f, frame in enumerate(source.frames(lambda f: f % stride != 0)):
        if f == 0:
            if size is not None and tuple(size) != source.shape:
                raise ValueError(
                    f"size {size[0]}x{size[1]} (height x width) differs from the frames of "
                    f"{source.name} ({source.shape[0]}x{source.shape[1]})"
                )
            tracks.check_inside(*source.shape)
        if frame is not None:
            yield (f, source.to_rgb(frame), *tracks.particles(f + 1, velocity)[:2])
        n = f + 1
        tick(f)
    if source.ended is None:  # read to its end (not stopped by a bound): no frame may lie beyond
        tracks.check_frames(n)


def label_stream(
    video: Any,
    params: dict[str, Any],
    progress: bool | dict[str, Any] = True,
    stats: dict[str, Any] | None = None,
    stop: Callable[[], bool] | None = None,
    size: tuple[int, int] | None = None,
) -> Iterator[LabelledFrame]:
    """The pipeline as a stream of :class:`LabelledFrame` (bounded memory); ``params`` from
    :func:`check_params`. ``stats`` (if given) receives source, height, width, frame_count.
    ``stop`` is polled every frame; when it returns True the stream raises :class:`Stopped`.
    With ``params["tracks"]`` the particles come from that trajectory file; ``video`` may then
    be None, with ``size`` (height, width) giving the frame size."""
    from tqdm.auto import tqdm

    tracks = read_trajectories(params["tracks"]) if params.get("tracks") else None
    if video is None and (tracks is None or size is None):
        raise ValueError("video=None needs tracks (a trajectory file) and size=(height, width)")
    bounds = {"max_frames": params.get("max_frames"), "duration": params.get("duration")}
    source = open_video(video, **bounds) if video is not None else None
    if source is not None and source.live and bounds == {"max_frames": None, "duration": None}:
        raise ValueError(
            f"{source.name}: a live source needs a bound: max_frames or duration "
            "(--max-frames, --duration)"
        )
    if source is not None:  # the size is known once the first frame is read
        name, total, shape = source.name, source.length, source.shape
    else:
        name, total, shape = str(params["tracks"]), tracks.last_frame, size  # type: ignore[union-attr]
    device = resolve_device(params["device"])  # "auto": decided once per video
    bar_args = {
        "desc": Path(name).name,
        "unit": "frame",
        "total": total,
        "leave": False,
        "disable": not progress,
    }
    if isinstance(progress, dict):
        bar_args.update(progress)
    totals = {"kept": 0, "moving": 0, "frames": 0}

    def finish(batch: list[_Raw]) -> Iterator[LabelledFrame]:
        for item in _finish_batch(batch, params, shape, device):  # type: ignore[arg-type]
            totals["kept"] += int(item.particles.keep.sum())
            totals["moving"] += len(item.particles)
            yield item

    with tqdm(**bar_args) as bar:

        def tick(f: int) -> None:
            totals["frames"] = f + 1
            bar.update()
            if stop is not None and stop():
                raise Stopped(f"{name}: stopped at frame {f}")

        if tracks is None:
            raw = _klt_particles(source, params, tick)
        else:
            raw = _file_particles(source, tracks, size, params, tick)
        batch: list[_Raw] = []
        for item in raw:
            if shape is None:
                shape = source.shape  # type: ignore[union-attr]
            batch.append(item)
            if len(batch) >= _BATCH:
                yield from finish(batch)
                batch = []
        yield from finish(batch)
    if shape is None:
        shape = source.shape  # type: ignore[union-attr]
    if stats is not None:
        h, w = shape  # type: ignore[misc]
        stats.update(source=name, height=h, width=w, frame_count=totals["frames"])
    if totals["kept"] == 0:
        why = "no moving particles" if totals["moving"] == 0 else "no collective motion"
        warnings.warn(
            f"{name}: {why} found; every pseudo-mask is empty", NoMotionWarning, stacklevel=3
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
    velocity: str = "centred",
    clamp_negative: bool = True,
    tracks: str | os.PathLike | None = None,
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
    duration: float | None = None,
    progress: bool = True,
) -> LabelSet:
    """Motion-prior pseudo-labels of a video (MPASNet Sec. 2.2, Fig. 3).

    Args:
        video: a video file path, a folder of images (natural sort), an array (T, H, W) or
            (T, H, W, 3) (RGB), or an iterable of frames; see :func:`pympas.video.open_video`.
            None with ``tracks`` and ``size``: labels from the trajectory file alone (the
            label set's frames are black).
        stride: label frames 0, stride, 2 stride, ... (the paper: one frame in 20).
        radius: CRM disc radius in pixels (the paper: 20).
        k: neighbours K of the collectiveness graph (the paper: 20).
        z: walk coupling in (0, 1/K); None = 1/(2K) as in the paper.
        max_particles: most KLT tracks alive at once.
        min_speed: particles slower than this (pixels per frame) are static background (0:
            every particle enters the graph).
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
        velocity: "centred", the mean displacement per frame over t - 2 .. t + 2 (clipped to
            the track); or "forward", the next position minus this one, the convention of the
            authors of "Measuring Crowd Collectiveness" (a particle not seen at t + 1 has none
            and is dropped).
        clamp_negative: Eq. 1's W = max(C, 0); False keeps negative velocity correlations, as
            the authors' original collectiveness code does.
        tracks: a trajectory file of the crowd-motion datasets (gKLT text format, see
            :mod:`pympas.trajectories`): particles from its tracks instead of KLT; file frame
            t + 1 is video frame t (frame numbers in these files are 1-based). The video gives
            the frame size and the frames; ``tracking`` and ``max_particles`` do not apply.
        size: (height, width) of the frames when ``video`` is None (with ``tracks``).
        max_frames: read at most this many frames (None: all).
        duration: read frames for at most this many seconds (wall clock, from the first frame;
            None: no limit). A live source (a stream URL or a camera index) needs one of the two
            bounds; if its stream ends or its connection is lost first, the frames received
            are labelled.
        progress: show a tqdm progress bar.

    Returns:
        A :class:`LabelSet` with frame_indices (L,), frames (L, H, W, 3), masks (L, H, W) and
        particles (L entries), L = ceil(T / stride) for a T-frame video. Frames are streamed;
        only the L labelled frames are held (``pympas label`` writes them to disk as it goes).

    Raises:
        pympas.video.VideoError: (a ValueError) the video cannot be labelled; names the source.
        pympas.trajectories.TrajectoryError: (a ValueError) a bad trajectory file (a malformed
            line, a non-increasing frame number, a point outside the frames or beyond the
            video); names the file and the line.
        ValueError, TypeError: a parameter out of range; names the parameter.

    Warns:
        NoMotionWarning: no collective motion anywhere, so every mask is empty.
    """
    params = check_params(
        stride, radius, k, z, max_particles, min_speed, min_cluster_size, device, tracking,
        velocity, clamp_negative, tracks, max_frames, duration,
    )  # fmt: skip
    if size is not None:
        size = _size(size)
    stats: dict[str, Any] = {}
    items = list(label_stream(video, params, progress, stats, size=size))
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


def _size(size: Any) -> tuple[int, int]:
    """``size`` checked as (height, width) of positive integers."""
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise TypeError(f"size must be (height, width), got {size!r}")
    return (_validate.integer("size[0] (height)", size[0], 1),
            _validate.integer("size[1] (width)", size[1], 1))  # fmt: skip
