"""``pympas segment CHECKPOINT VIDEO... -o OUT``: crowd masks for every frame of videos
(CHECKPOINT: a training checkpoint, or a ``.onnx`` model from ``pympas export``; VIDEO: a file,
a folder of images, a stream URL or a camera index).

A live source (stream URL, camera) is segmented frame by frame until ``--max-frames`` or
``--duration``, the end of the stream or a lost connection (said on stderr), or Ctrl-C /
SIGTERM; in every case ``OUT/<name>`` is committed with the masks of every frame received.

Each ``OUT/<name>`` folder appears only when every mask in it (and the overlay video) was written
and checked; a full disk fails the video with a message naming the file. Temporary folders of
killed runs are removed when ``OUT`` is next used; a rerun skips the videos whose folder exists.

The inputs are expanded as ``pympas label`` expands them (folders of videos, quoted glob
patterns, ``--shard I/N``: :mod:`pympas.cli._inputs`); with ``--ray [ADDRESS]`` each video is
one Ray task (:mod:`pympas.cli._ray`; ``--ray-gpus-per-task 0.25`` puts four on a GPU) running
the same :func:`_segment_one` as the loop here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from pympas.cli._common import default, fail
from pympas.cli._inputs import add_shard_option, expand_inputs
from pympas.cli._ray import add_ray_options, ray_options, run_on_ray
from pympas.config import AMP_CHOICES
from pympas.device import DEVICE_HELP
from pympas.export import is_onnx
from pympas.segmentation import AUTO, check_scale, model_scales, segment, segment_to_folder

#: the model loaded in this process, kept for its next video (a worker process segments many):
#: (checkpoint, its size and time, device) -> model
_MODEL: dict[tuple, Any] = {}


def _model(checkpoint: str, device: str) -> Any:
    """The model of ``checkpoint`` on ``device``, loaded once per process (again if the file
    changed)."""
    from pympas.segmentation import load_for_inference

    try:
        st = os.stat(checkpoint)
        key: tuple = (str(checkpoint), st.st_size, st.st_mtime_ns, str(device))
    except OSError:
        key = (str(checkpoint), str(device))  # load_for_inference names the missing file
    if key not in _MODEL:
        _MODEL.clear()
        _MODEL[key] = load_for_inference(checkpoint, device)
    return _MODEL[key]


def _scale(values: list[str]) -> str | tuple[float, ...]:
    """``--scale``: ``auto`` alone, or factors checked by
    :func:`pympas.segmentation.check_scale` (ValueError naming ``scale``)."""
    if values == [AUTO]:
        return AUTO
    try:
        factors = [float(v) for v in values]
    except ValueError:
        raise ValueError(f"scale must be {AUTO} or numbers, got {' '.join(values)}") from None
    return check_scale(factors)


def _segment_one(
    video: str, target: str, checkpoint: str, options: dict[str, Any], overwrite: bool,
    progress: bool,
) -> tuple[str, str, str, str | None]:  # fmt: skip
    """Segment one video into the folder ``target``: (video as shown, status ok/skipped/failed,
    message, how a live source ended or None). ``options``: the keywords of
    :func:`pympas.segmentation.segment_to_folder` and of :func:`pympas.video.open_video`."""
    from pympas.video import open_video

    folder = Path(target)
    if folder.exists() and not overwrite:
        return video, "skipped", f"{folder} exists, skipped (use --overwrite to redo it)", None
    start, source = time.perf_counter(), None
    opts = dict(options)
    bounds = {key: opts.pop(key) for key in ("max_frames", "duration")}
    try:
        model = _model(checkpoint, opts["device"])
        source = open_video(video, **bounds)
        n = segment_to_folder(model, source, folder, progress=progress, **opts)
    except KeyboardInterrupt:
        if source is not None and source.live and folder.exists():
            print(f"{source.name}: interrupted; the masks of every frame received are in "
                  f"{folder}")  # fmt: skip
        raise
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        return source.name if source is not None else video, "failed", str(exc), None
    rate = n / max(time.perf_counter() - start, 1e-9)
    shown = source.name if source.live else video  # a URL without its password
    return shown, "ok", f"{n} masks -> {folder} ({rate:.1f} frames/s)", source.ended


def _report(result: tuple[str, str, str, str | None]) -> None:
    """Say how one video went, as it ends."""
    shown, status, message, ended = result
    if status == "failed":
        print(f"{shown}: FAILED: {message}", file=sys.stderr)
        return
    if ended:
        print(ended, file=sys.stderr)
    print(f"{shown}: {message}")


def _failed(job: tuple, message: str) -> tuple[str, str, str, None]:
    """The result of a job that ended without one (its Ray worker died)."""
    return job[0], "failed", message, None


def _on_ray(jobs: list[tuple], ray: Any, quiet: bool) -> list[tuple[str, str, str, str | None]]:
    from tqdm.auto import tqdm

    with tqdm(total=len(jobs), desc="videos", unit="video", disable=quiet) as overall:
        return run_on_ray(_segment_one, jobs, ray, overall, _failed, _report)


def run(args: argparse.Namespace) -> int:
    from pympas.files import check_writable, output_folder

    if args.max_frames is not None and args.max_frames < 1:
        return fail("segment", f"--max-frames must be >= 1, got {args.max_frames}", 2)
    if args.duration is not None and not args.duration > 0:
        return fail("segment", f"--duration must be > 0 seconds, got {args.duration}", 2)
    try:
        scale = _scale(args.scale)
    except ValueError as exc:
        return fail("segment", f"--{exc}", 2)
    try:
        ray = ray_options(args)
    except (ValueError, ImportError, ConnectionError) as exc:
        return fail("segment", exc, 2)
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        what = "ONNX model" if is_onnx(checkpoint) else "checkpoint"
        return fail("segment", f"{what} {checkpoint} does not exist")
    try:  # read once here, before any output: a bad model is one error, not one per video
        videos, bad = expand_inputs(args.videos, args.shard)
        loaded = _model(str(checkpoint), "cpu" if ray is not None else args.device)
        chosen = model_scales(loaded, AUTO) if scale == AUTO else (1.0,)
        if chosen != (1.0,):
            scales = ", ".join(f"{s:g}" for s in chosen)
            print(f"segmenting at scales {scales}, logits averaged (the checkpoint's labels have "
                  f"CRM radius {loaded.crm_radius:g} px; --scale 1 for one pass)")  # fmt: skip
    except (ValueError, TypeError, OSError, RuntimeError, KeyError, ImportError) as exc:
        return fail("segment", exc)
    try:  # before any work: OUT exists and can be written (on every node, with --ray)
        out = check_writable(output_folder(args.output))  # also removes killed runs' temporaries
    except OSError as exc:
        return fail("segment", exc)
    options = {
        "overlay_video": args.overlay_video, "device": args.device,
        "batch_size": args.batch_size, "threshold": args.threshold, "amp": args.amp,
        "scale": scale, "max_frames": args.max_frames, "duration": args.duration,
    }  # fmt: skip
    progress = not args.quiet and ray is None  # Ray: one overall bar
    model = str(checkpoint.absolute() if ray is not None else checkpoint)  # Ray: for any node
    jobs = [
        (video, str(out / name), model, options, args.overwrite, progress) for video, name in videos
    ]
    failures = list(bad)
    for video, why in failures:
        print(f"{video}: FAILED: {why}", file=sys.stderr)
    results = []
    try:
        if ray is not None:
            _MODEL.clear()  # the tasks load their own, on their device
            results = _on_ray(jobs, ray, args.quiet)
        else:
            for job in jobs:
                results.append(_segment_one(*job))
                _report(results[-1])
    except ConnectionError as exc:  # no Ray cluster at the address
        return fail("segment", exc, 2)
    finally:
        _MODEL.clear()
    failures += [(shown, message) for shown, status, message, _ in results if status == "failed"]
    if failures:
        total = len(jobs) + len(bad)
        print(f"pympas segment: {len(failures)} of {total} videos failed:", file=sys.stderr)
        for video, reason in failures:
            print(f"  {video}: {reason}", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment",
        help="crowd masks for every frame of videos from a trained checkpoint",
        description="Write OUT/<video>/NNNNNN.png (0/255 crowd masks) for each video, "
        "optionally with an overlay video; each folder appears only when complete.",
    )
    p.add_argument(
        "checkpoint", metavar="CHECKPOINT",
        help="a *.pt checkpoint from pympas train, or a *.onnx model from pympas export (run by "
        "ONNX Runtime: the CPU, or its CUDA execution provider where present)",
    )  # fmt: skip
    p.add_argument(
        "videos", metavar="VIDEO", nargs="+",
        help="video files, folders of images, folders of videos, quoted glob patterns, stream "
        "URLs (rtsp://, http://, ...) or camera indices (0, 1, ...)",
    )  # fmt: skip
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    p.add_argument(
        "--overlay-video", action="store_true", help="also write overlay.mp4 (mask over frames)"
    )
    p.add_argument("--device", default=default(segment, "device"), help=DEVICE_HELP)
    bs, t = default(segment, "batch_size"), default(segment, "threshold")
    p.add_argument("--batch-size", type=int, default=bs, help=f"frames per pass (default {bs})")
    p.add_argument("--threshold", type=float, default=t, help=f"probability cut (default {t})")
    p.add_argument(
        "--amp", choices=AMP_CHOICES, default=default(segment, "amp"),
        help="PyTorch models: bf16 autocast + channels_last where native (auto, the default), "
        "bf16 or fp32",
    )  # fmt: skip
    p.add_argument(
        "--scale", nargs="+", default=[default(segment, "scale")], metavar="S",
        help="resize frames by S before the network (masks keep the video's size); several "
        "scales average their logits. Where people are small, S > 1 gives finer masks: 20 / R "
        "brings CRM discs of radius R to the paper's 20 px. Default auto: 1 and 20 / R for a "
        "model trained on labels of CRM radius R (as its checkpoint records), else 1",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="redo videos whose folder exists")
    p.add_argument(
        "--max-frames", type=int, default=default(segment, "max_frames"), metavar="N",
        help="stop each video after N frames (for live sources)",
    )  # fmt: skip
    p.add_argument(
        "--duration", type=float, default=default(segment, "duration"), metavar="SECONDS",
        help="stop each video SECONDS after its first frame (for live sources)",
    )  # fmt: skip
    add_shard_option(p)
    add_ray_options(p, "segment the videos")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
