"""``pympas label VIDEO_OR_DIR... -o OUT``: pseudo-label many videos, one label set per video
(:func:`pympas.label` for each, written with :class:`pympas.labelset.LabelSetWriter`).

A folder argument holding images is one video (natural sort order); a folder holding video files
and no images stands for each of those videos. Each video is written to ``OUT/<name>`` through a
temporary folder renamed when complete, so an interrupted run never leaves a half-written set and
a rerun skips the sets already complete (unless ``--overwrite``). One bad video does not stop the
others; the exit code is 0 only if every video succeeded.
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

from pympas.cli._common import EXIT_INTERRUPTED, default, fail
from pympas.device import DEVICE_HELP
from pympas.labels import HALF_WINDOW, TRACKING, label

__all__ = ["expand_inputs", "register", "run"]

_SLOT: int = 1  # progress-bar row of this (worker) process
_STOP: Any = None  # multiprocessing.Event set by the parent to stop the workers cleanly


def expand_inputs(paths: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Videos to label as (source, output name), and inputs that are no video as (path, reason).

    Output names come from :func:`pympas.files.output_names` (distinct per input)."""
    from pympas.files import output_names
    from pympas.video import VIDEO_EXTENSIONS, image_files, natural_key

    videos: list[str] = []
    bad: list[tuple[str, str]] = []
    for arg in paths:
        p = Path(arg)
        if not p.exists():
            bad.append((arg, "no such file or folder"))
        elif p.is_dir() and image_files(p):
            videos.append(arg)
        elif p.is_dir():
            inside = [
                q for q in p.iterdir() if q.is_file() and q.suffix.lower() in VIDEO_EXTENSIONS
            ]
            if not inside:
                bad.append((arg, "folder has no images and no videos"))
            videos += [str(q) for q in sorted(inside, key=lambda q: natural_key(q.name))]
        else:
            videos.append(arg)
    seen: set[Path] = set()
    unique = []
    for src in videos:  # the same video given twice is labelled once
        if Path(src).resolve() not in seen:
            seen.add(Path(src).resolve())
            unique.append(src)
    return list(zip(unique, output_names(unique), strict=True)), bad


def _init_worker(lock: Any, slots: Any, stop: Any) -> None:
    from tqdm.auto import tqdm

    global _SLOT, _STOP
    # Ctrl-C reaches the whole process group: the parent alone handles it and sets `stop`, so
    # that each worker removes its temporary folder before it exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    tqdm.set_lock(lock)
    _SLOT = slots.get()
    _STOP = stop


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through LabelSetWriter, which cleans up


def _label_one(
    src: str, out: str, params: dict[str, Any], overwrite: bool, overlays: bool, progress: bool
) -> tuple[str, str, str]:
    """Label one video into ``out``; returns (source, status, message), status ok/skipped/failed."""
    from pympas.labels import NoMotionWarning, Stopped, label_stream
    from pympas.labelset import LabelSetWriter, is_complete

    folder = Path(out)
    if folder.exists() and not overwrite:
        if is_complete(folder):
            return src, "skipped", "complete label set exists (use --overwrite to redo)"
        return src, "failed", f"{folder} exists and is not a label set (use --overwrite)"
    bar = {"position": _SLOT, "leave": False}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NoMotionWarning)
            with LabelSetWriter(folder, overwrite=overwrite, overlays=overlays) as writer:
                stats: dict[str, Any] = {}
                stop = _STOP.is_set if _STOP is not None else None
                for item in label_stream(src, params, bar if progress else False, stats, stop):
                    writer.add(item)
                meta = {
                    "source": stats["source"],
                    "height": stats["height"],
                    "width": stats["width"],
                    "params": params,
                    "frame_count": stats["frame_count"],
                }
                writer.finish(meta)
    except Stopped:
        return src, "interrupted", "stopped before completion; nothing written"
    except (ValueError, OSError) as exc:  # VideoError and unwritable output: message names the file
        return src, "failed", str(exc)
    except Exception as exc:  # anything else fails this video only, not the batch
        return src, "failed", f"{type(exc).__name__}: {exc}"
    notes = "; ".join(str(w.message) for w in caught if issubclass(w.category, NoMotionWarning))
    return src, "ok", notes or f"{len(writer.records)} labelled frames"


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from pympas.labels import check_params

    try:
        params = check_params(
            args.stride, args.radius, args.k, None, args.max_particles, args.min_speed,
            args.min_cluster_size, args.device, args.tracking,
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        return fail("label", exc, 2)
    if args.jobs < 1:
        return fail("label", f"--jobs must be >= 1, got {args.jobs}", 2)
    out = Path(args.output)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return fail("label", f"cannot create the output folder {out}: {exc}", 2)
    videos, bad = expand_inputs(args.inputs)
    results: list[tuple[str, str, str]] = [(p, "failed", why) for p, why in bad]
    jobs = [
        (src, str(out / name), params, args.overwrite, args.overlays, not args.quiet)
        for src, name in videos
    ]
    overall = tqdm(total=len(jobs), desc="videos", unit="video", position=0, disable=args.quiet)
    try:
        if args.jobs == 1 or len(jobs) <= 1:
            for job in jobs:
                results.append(_label_one(*job))
                overall.update()
        else:
            results += _run_parallel(jobs, min(args.jobs, len(jobs)), overall)
    except KeyboardInterrupt:
        overall.close()
        print(
            "pympas label: interrupted; finished label sets are kept, none is half-written",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    overall.close()
    return _summary(results)


def _run_parallel(jobs: list[tuple], workers: int, overall: Any) -> list[tuple[str, str, str]]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    # Spawn, never fork: a forked child inherits OpenMP/OpenCV thread pools mid-state and can
    # deadlock inside the native kernels.
    ctx = mp.get_context("spawn")
    slots = ctx.Queue()
    for i in range(1, workers + 1):
        slots.put(i)
    stop = ctx.Event()
    results = []
    lock = ctx.RLock()  # one lock for every progress bar, shared with the workers
    tqdm.set_lock(lock)
    pool = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(lock, slots, stop)
    )
    try:
        futures = {pool.submit(_label_one, *job): job[0] for job in jobs}
        for fut in as_completed(futures):
            try:
                results.append(fut.result())
            except Exception as exc:  # a worker that died (e.g. killed for memory)
                results.append((futures[fut], "failed", f"worker crashed: {exc!r}"))
            overall.update()
    except KeyboardInterrupt:
        stop.set()  # running workers stop at their next frame and remove their temporary folder
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return results


def _summary(results: list[tuple[str, str, str]]) -> int:
    ok = [r for r in results if r[1] == "ok"]
    skipped = [r for r in results if r[1] == "skipped"]
    failed = [r for r in results if r[1] == "failed"]
    print(
        f"pympas label: {len(ok)} labelled, {len(skipped)} skipped (already complete), "
        f"{len(failed)} failed"
    )
    for src, _, msg in ok:
        print(f"  ok      {src}: {msg}")
    for src, _, msg in skipped:
        print(f"  skipped {src}: {msg}")
    for src, _, msg in failed:
        print(f"  FAILED  {src}: {msg}")
    return 0 if not failed else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "label",
        help="motion-prior pseudo-labels (KLT -> collectiveness -> CRM) for videos",
        description="Pseudo-label videos: one label set (labels.json, frames/, masks/, "
        "particles.npz) per video in OUT/<video name>.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="VIDEO_OR_DIR",
        help="video files, folders of images, or folders of videos",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    options = {
        "stride": (int, "label one frame in STRIDE"),
        "radius": (float, "CRM disc radius in pixels"),
        "k": (int, "neighbours K per particle"),
        "max_particles": (int, "most KLT tracks"),
        "min_speed": (float, "static below this many pixels per frame"),
        "min_cluster_size": (int, "smaller collective clusters are outliers"),
    }
    for name, (kind, text) in options.items():
        value = default(label, name)
        p.add_argument(
            "--" + name.replace("_", "-"), type=kind, default=value,
            help=f"{text} (default {value:g})",
        )  # fmt: skip
    p.add_argument(
        "--device", default=default(label, "device"),
        help=f"where collectiveness and CRM run: {DEVICE_HELP}",
    )  # fmt: skip
    p.add_argument(
        "--tracking", choices=TRACKING, default=default(label, "tracking"),
        help="KLT-track only the frames around each labelled frame (window), or every frame "
        f"(continuous); with a stride <= {2 * HALF_WINDOW + 1} window tracks continuously "
        "(default %(default)s)",
    )  # fmt: skip
    p.add_argument("--jobs", type=int, default=1, help="videos labelled in parallel (default 1)")
    p.add_argument("--overwrite", action="store_true", help="redo label sets that exist")
    p.add_argument(
        "--overlays",
        action="store_true",
        help="also write Fig. 3 style pictures to OUT/<name>/overlays/",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
