"""``pympas segment CHECKPOINT VIDEO... -o OUT``: crowd masks for every frame of videos
(CHECKPOINT: a training checkpoint, or a ``.onnx`` model from ``pympas export``; VIDEO: a file,
a folder of images, a stream URL or a camera index).

A live source (stream URL, camera) is segmented frame by frame until ``--max-frames`` or
``--duration``, the end of the stream or a lost connection (said on stderr), or Ctrl-C /
SIGTERM; in every case ``OUT/<name>`` is committed with the masks of every frame received.

Each ``OUT/<name>`` folder appears only when every mask in it (and the overlay video) was written
and checked; a full disk fails the video with a message naming the file. Temporary folders of
killed runs are removed when ``OUT`` is next used.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pympas.cli._common import default, fail
from pympas.config import AMP_CHOICES
from pympas.device import DEVICE_HELP
from pympas.export import is_onnx
from pympas.segmentation import segment, segment_to_folder


def run(args: argparse.Namespace) -> int:
    from pympas.files import output_folder, output_names
    from pympas.segmentation import load_for_inference
    from pympas.video import open_video

    if args.max_frames is not None and args.max_frames < 1:
        return fail("segment", f"--max-frames must be >= 1, got {args.max_frames}", 2)
    if args.duration is not None and not args.duration > 0:
        return fail("segment", f"--duration must be > 0 seconds, got {args.duration}", 2)
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        what = "ONNX model" if is_onnx(checkpoint) else "checkpoint"
        return fail("segment", f"{what} {checkpoint} does not exist")
    try:
        names = output_names(args.videos)
        model = load_for_inference(checkpoint, args.device)
    except (ValueError, TypeError, OSError, RuntimeError, KeyError, ImportError) as exc:
        return fail("segment", exc)
    try:
        out = output_folder(args.output)  # also removes temporaries of killed runs
    except OSError as exc:
        return fail("segment", exc)
    failures = []
    for video, name in zip(args.videos, names, strict=True):
        target = out / name
        if target.exists() and not args.overwrite:
            print(f"{video}: {target} exists, skipped (use --overwrite to redo it)")
            continue
        start, source = time.perf_counter(), None
        try:
            source = open_video(video, max_frames=args.max_frames, duration=args.duration)
            n = segment_to_folder(
                model, source, target, overlay_video=args.overlay_video, device=args.device,
                batch_size=args.batch_size, threshold=args.threshold, progress=not args.quiet,
                amp=args.amp,
            )  # fmt: skip
        except KeyboardInterrupt:
            if source is not None and source.live and target.exists():
                print(f"{source.name}: interrupted; the masks of every frame received are in "
                      f"{target}")  # fmt: skip
            raise
        except (ValueError, TypeError, OSError, RuntimeError) as exc:
            shown = source.name if source is not None else video
            failures.append((shown, str(exc)))
            print(f"{shown}: FAILED: {exc}", file=sys.stderr)
            continue
        if source.ended:
            print(source.ended, file=sys.stderr)
        rate = n / max(time.perf_counter() - start, 1e-9)
        shown = source.name if source.live else video  # a URL without its password
        print(f"{shown}: {n} masks -> {target} ({rate:.1f} frames/s)")
    if failures:
        print(
            f"pympas segment: {len(failures)} of {len(args.videos)} videos failed:", file=sys.stderr
        )
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
        help="video files, folders of images, stream URLs (rtsp://, http://, ...) or camera "
        "indices (0, 1, ...)",
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
    p.add_argument("--overwrite", action="store_true", help="redo videos whose folder exists")
    p.add_argument(
        "--max-frames", type=int, default=default(segment, "max_frames"), metavar="N",
        help="stop each video after N frames (for live sources)",
    )  # fmt: skip
    p.add_argument(
        "--duration", type=float, default=default(segment, "duration"), metavar="SECONDS",
        help="stop each video SECONDS after its first frame (for live sources)",
    )  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
