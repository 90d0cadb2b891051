"""``pympas segment CHECKPOINT VIDEO... -o OUT``: crowd masks for every frame of videos
(CHECKPOINT: a training checkpoint, or a ``.onnx`` model from ``pympas export``).

Each ``OUT/<name>`` folder appears only when every mask in it (and the overlay video) was written
and checked; a full disk fails the video with a message naming the file. Temporary folders of
killed runs are removed when ``OUT`` is next used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pympas.cli._common import default, fail
from pympas.device import DEVICE_HELP
from pympas.export import is_onnx
from pympas.segmentation import segment, segment_to_folder


def run(args: argparse.Namespace) -> int:
    from pympas.files import output_folder, output_names
    from pympas.segmentation import load_for_inference

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
        try:
            n = segment_to_folder(
                model, video, target, overlay_video=args.overlay_video, device=args.device,
                batch_size=args.batch_size, threshold=args.threshold,
            )  # fmt: skip
        except (ValueError, TypeError, OSError, RuntimeError) as exc:
            failures.append((video, str(exc)))
            print(f"{video}: FAILED: {exc}", file=sys.stderr)
            continue
        print(f"{video}: {n} masks -> {target}")
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
    p.add_argument("videos", metavar="VIDEO", nargs="+", help="video files or folders of images")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    p.add_argument(
        "--overlay-video", action="store_true", help="also write overlay.mp4 (mask over frames)"
    )
    p.add_argument("--device", default=default(segment, "device"), help=DEVICE_HELP)
    bs, t = default(segment, "batch_size"), default(segment, "threshold")
    p.add_argument("--batch-size", type=int, default=bs, help=f"frames per pass (default {bs})")
    p.add_argument("--threshold", type=float, default=t, help=f"probability cut (default {t})")
    p.add_argument("--overwrite", action="store_true", help="redo videos whose folder exists")
    p.set_defaults(func=run)
