"""``pympas label VIDEO_OR_DIR... -o OUT``: pseudo-label many videos, one label set per video
(:func:`pympas.label` for each, written with :class:`pympas.labelset.LabelSetWriter`).

A folder argument holding images is one video (natural sort order); a folder holding video files
and no images stands for each of those videos. Each video is written to ``OUT/<name>`` (a name
distinct per input, :func:`pympas.files.output_names`) through a temporary folder renamed when
complete, so an interrupted run never leaves a half-written set. A rerun skips a set only if it
is complete *for this input and these parameters* (the resolved source path and the parameters
recorded in its labels.json); a set of another video or other parameters is an error naming
the difference, never a skip (``--overwrite`` replaces it). One bad video does not stop the
others; the exit code is 0 only if every video succeeded.

Folders of videos and quoted glob patterns are expanded in natural sort order
(:mod:`pympas.cli._inputs`); ``--shard I/N`` labels the I-th of N balanced parts of that list,
so that N independent jobs (a SLURM array, a Kubernetes indexed job) label disjoint sets and a
rerun of any of them resumes. With ``--ray [ADDRESS]`` every video is one Ray task on a local
Ray instance or a cluster (:mod:`pympas.cli._ray`), with the same writes, resume and summary.

With ``--jobs N`` the videos are labelled by N worker processes. Ctrl-C or SIGTERM stops them
cleanly (each removes its temporary folder); workers whose parent dies, even by SIGKILL, stop the
same way; a worker that dies (killed, e.g. by the out-of-memory killer) costs only the videos it
and its siblings were labelling at that moment, which are labelled again, one at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from pympas.cli._common import default, fail
from pympas.cli._inputs import add_shard_option, expand_inputs, source_key
from pympas.cli._ray import add_ray_options, ray_options, run_on_ray
from pympas.device import DEVICE_HELP
from pympas.labels import HALF_WINDOW, TRACKING, label
from pympas.trajectories import VELOCITY

__all__ = ["expand_inputs", "register", "run"]

_SLOT: int = 1  # progress-bar row of this (worker) process
_STOP: Any = None  # multiprocessing.Event set by the parent to stop the workers cleanly
_STARTED: Any = None  # multiprocessing.Array: job i has started in a worker iff _STARTED[i]
#: parameters that do not change the labels (the masks are equal on every device)
_NOT_COMPARED = ("device",)


def _init_worker(lock: Any, slots: Any, stop: Any, started: Any, parent: int) -> None:
    from tqdm.auto import tqdm

    global _SLOT, _STOP, _STARTED
    # Ctrl-C reaches the whole process group: the parent alone handles it and sets `stop`, so
    # that each worker removes its temporary folder before it exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    _die_with_parent(parent)
    tqdm.set_lock(lock)
    _SLOT = slots.get()
    _STOP = stop
    _STARTED = started


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    # Later SIGTERMs (the parent-death signal and the watchdog both send one) must not interrupt
    # the clean-up that this one starts.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)  # unwinds through LabelSetWriter, which cleans up


def _die_with_parent(parent: int, poll: float = 0.5) -> None:
    """Send this worker SIGTERM (a clean stop, see :func:`_exit_on_sigterm`) when the parent
    process ``parent`` dies, however it dies: at once through Linux's parent-death signal, and
    within ``poll`` seconds through a watchdog thread everywhere (it also covers a parent that
    died before this worker started)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="pympas-parent-watchdog", daemon=True).start()


def _differs(folder: Path, src: str, params: dict[str, Any]) -> str | None:
    """None if ``folder`` is a complete label set of ``src`` made with ``params``; else what
    differs, for the message."""
    from pympas.labels import recorded_params
    from pympas.labelset import LabelSetError, read_meta

    try:
        meta = read_meta(folder)
    except LabelSetError as exc:
        return f"exists and is not a complete label set ({exc})"
    recorded = meta["source"]
    if source_key(recorded) != source_key(src):
        return f"holds the labels of another video ({recorded})"
    now = json.loads(json.dumps(params))  # as labels.json records them
    then = recorded_params(meta["params"])
    changed = [
        f"{key} {then.get(key)!r} -> {now.get(key)!r}"
        for key in sorted(set(now) | set(then))
        if key not in _NOT_COMPARED and then.get(key) != now.get(key)
    ]
    if changed:
        return f"was labelled with other parameters ({', '.join(changed)})"
    return None


def _label_one(
    src: str, out: str, params: dict[str, Any], overwrite: bool, overlays: bool, progress: bool
) -> tuple[str, str, str]:
    """Label one video into ``out``; returns (source, status, message), status ok/skipped/failed
    /interrupted."""
    from pympas.labels import NoMotionWarning, Stopped, label_stream
    from pympas.labelset import LabelSetWriter

    folder = Path(out)
    if folder.exists() and not overwrite:
        problem = _differs(folder, src, params)
        if problem is None:
            return src, "skipped", "complete label set exists (use --overwrite to redo)"
        return src, "failed", f"{folder} {problem}; use --overwrite to replace it, or another -o"
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
                    "source": str(source_key(src)),
                    "height": stats["height"],
                    "width": stats["width"],
                    "params": params,
                    "frame_count": stats["frame_count"],
                }
                writer.finish(meta)
    except Stopped:
        return src, "interrupted", "stopped before completion; nothing written"
    except FileExistsError:  # another process completed the same set meanwhile
        problem = _differs(folder, src, params)
        if problem is None:
            return src, "skipped", "another process completed this label set first; kept"
        return src, "failed", f"{folder} was written meanwhile by another process and {problem}"
    except (ValueError, OSError) as exc:  # VideoError and unwritable output: message names the file
        return src, "failed", str(exc)
    except Exception as exc:  # anything else fails this video only, not the batch
        return src, "failed", f"{type(exc).__name__}: {exc}"
    notes = "; ".join(str(w.message) for w in caught if issubclass(w.category, NoMotionWarning))
    return src, "ok", notes or f"{len(writer.records)} labelled frames"


def _label_job(index: int, *job: Any) -> tuple[str, str, str]:
    """:func:`_label_one` in a worker, marking job ``index`` as started for the parent.

    SIGTERM (from the parent-death signal, the watchdog, or a pool that stops its workers)
    raises SystemExit in :func:`_label_one`, which removes the temporary folder as it unwinds;
    then the worker ends for good (a pool worker would otherwise catch it and take the next
    job)."""
    if _STARTED is not None:
        _STARTED[index] = 1
    try:
        return _label_one(*job)
    except SystemExit as exc:
        sys.stderr.flush()
        os._exit(exc.code if isinstance(exc.code, int) else 1)


def _failed(job: tuple, message: str) -> tuple[str, str, str]:
    """The result of a job that ended without one (its Ray worker died)."""
    return job[0], "failed", message


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from pympas.files import check_writable, output_folder
    from pympas.labels import check_params

    try:
        params = check_params(
            args.stride, args.radius, args.k, None, args.max_particles, args.min_speed,
            args.min_cluster_size, args.device, args.tracking, args.velocity,
            args.clamp_negative, args.tracks, args.max_frames, args.duration,
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        return fail("label", exc, 2)
    from pympas.video import is_stream

    live = [arg for arg in args.inputs if is_stream(arg)]
    if live and args.max_frames is None and args.duration is None:
        return fail(
            "label", f"live source {live[0]!r} needs a bound: --max-frames N or --duration S", 2
        )
    if args.tracks is not None and len(args.inputs) != 1:
        return fail("label", f"--tracks labels one video; got {len(args.inputs)} inputs", 2)
    if args.jobs < 1:
        return fail("label", f"--jobs must be >= 1, got {args.jobs}", 2)
    if args.ray is not None and args.jobs != 1:
        return fail("label", "--jobs and --ray exclude each other (Ray runs one task per video)", 2)
    try:
        ray = ray_options(args)
    except (ValueError, ImportError, ConnectionError) as exc:
        return fail("label", exc, 2)
    try:  # before any work: OUT exists and can be written (on every node, with --ray)
        out = check_writable(output_folder(args.output))  # also removes killed runs' temporaries
    except OSError as exc:
        return fail("label", exc, 2)
    videos, bad = expand_inputs(args.inputs, args.shard)
    results: list[tuple[str, str, str]] = [(p, "failed", why) for p, why in bad]
    progress = not args.quiet and ray is None  # Ray: the overall bar only
    jobs = [
        (src, str(out / name), params, args.overwrite, args.overlays, progress)
        for src, name in videos
    ]
    overall = tqdm(total=len(jobs), desc="videos", unit="video", position=0, disable=args.quiet)
    try:  # Ctrl-C and SIGTERM end in pympas.cli._common.run_command after the workers stopped
        if ray is not None:
            try:
                results += run_on_ray(_label_one, jobs, ray, overall, _failed)
            except (ImportError, ConnectionError) as exc:
                return fail("label", exc, 2)
        elif args.jobs == 1 or len(jobs) <= 1:
            for job in jobs:
                results.append(_label_one(*job))
                overall.update()
        else:
            results += _run_parallel(jobs, min(args.jobs, len(jobs)), overall)
    finally:
        overall.close()
    return _summary(results)


class _Pools:
    """Runs jobs in spawn worker pools (see :func:`_run_parallel`)."""

    def __init__(self, jobs: list[tuple], overall: Any) -> None:
        import multiprocessing as mp

        # Spawn, never fork: a forked child inherits OpenMP/OpenCV thread pools mid-state and
        # can deadlock inside the native kernels.
        self.ctx = mp.get_context("spawn")
        self.jobs, self.overall = jobs, overall
        self.stop = self.ctx.Event()
        self.started = self.ctx.Array("b", len(jobs), lock=False)
        self.renew_lock()  # one lock for every progress bar, shared with the workers

    def renew_lock(self) -> None:
        from tqdm.auto import tqdm

        self.lock = self.ctx.RLock()
        tqdm.set_lock(self.lock)

    def run(
        self, indices: list[int], workers: int, results: dict[int, tuple[str, str, str]]
    ) -> list[int]:
        """Run jobs ``indices`` on ``workers`` processes into ``results``; returns the jobs a
        dead worker left unfinished (the pool breaks when one dies), started ones first."""
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        workers = min(workers, len(indices))
        slots = self.ctx.Queue()
        for i in range(1, workers + 1):
            slots.put(i)
        for i in indices:
            self.started[i] = 0
        pool = ProcessPoolExecutor(
            workers, mp_context=self.ctx, initializer=_init_worker,
            initargs=(self.lock, slots, self.stop, self.started, os.getpid()),
        )  # fmt: skip
        try:
            futures = {pool.submit(_label_job, i, *self.jobs[i]): i for i in indices}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except BrokenProcessPool:
                    continue  # decided below, per job
                except Exception as exc:  # e.g. an argument that cannot be sent to a worker
                    results[i] = (self.jobs[i][0], "failed", f"{type(exc).__name__}: {exc}")
                self.overall.update()
        except KeyboardInterrupt:
            self.stop.set()  # running workers stop at their next frame, removing their folder
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        left = [i for i in indices if i not in results]
        return sorted(left, key=lambda i: not self.started[i])


def _run_parallel(jobs: list[tuple], workers: int, overall: Any) -> list[tuple[str, str, str]]:
    """Label ``jobs`` on ``workers`` processes.

    A worker that dies (SIGKILL, the out-of-memory killer) breaks its pool, which stops the
    other workers (they remove their temporary folders). Then: jobs that had not started run
    on a new pool; jobs that had started, whether in the dead worker or a stopped sibling, are
    labelled again one at a time, so that a video whose worker dies even alone is the one
    reported as failed and the others are not lost with it.
    """
    pools = _Pools(jobs, overall)
    results: dict[int, tuple[str, str, str]] = {}
    retried = set()
    queue = list(range(len(jobs)))
    while queue:
        left = pools.run(queue, workers, results)
        if left:
            pools.renew_lock()  # the dead worker may have held the progress-bar lock
        suspects = [i for i in left if pools.started[i]]
        queue = [i for i in left if not pools.started[i]]
        retried.update(suspects)
        for i in suspects:  # one at a time
            if pools.run([i], 1, results):
                src = jobs[i][0]
                results[i] = (
                    src, "failed", "the worker process labelling it died, also when it was "
                    "labelled alone (killed by a signal; out of memory?); nothing was written",
                )  # fmt: skip
                overall.update()
    for i in retried:
        src, status, message = results[i]
        if status == "skipped":  # complete for this input: finished just before its worker died
            results[i] = (src, "ok", "labelled (its worker process died right after finishing)")
        elif status == "ok":
            results[i] = (src, "ok", f"{message} (labelled again after a worker process died)")
    return [results[i] for i in range(len(jobs))]


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
        help="video files, folders of images, folders of videos, quoted glob patterns "
        "('cams/**/*.mp4'), stream URLs (rtsp://, http://, ...) or camera indices (these need "
        "--max-frames or --duration)",
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
    p.add_argument(
        "--velocity", choices=VELOCITY, default=default(label, "velocity"),
        help="particle velocities over the centred 5-frame window, or forward (next point minus "
        "this one, the convention of the collectiveness authors) (default %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--clamp-negative", action=argparse.BooleanOptionalAction,
        default=default(label, "clamp_negative"),
        help="Eq. 1's W = max(C, 0); --no-clamp-negative keeps negative velocity correlations, "
        "as the collectiveness authors' code does (default %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--tracks", metavar="FILE", default=default(label, "tracks"),
        help="particles from this trajectory file (gKLT text format of the Collective Motion "
        "Database and CUHK Crowd; 1-based frames) instead of KLT; one video only",
    )  # fmt: skip
    p.add_argument(
        "--max-frames", type=int, default=default(label, "max_frames"), metavar="N",
        help="read at most N frames of each video (a live source needs this or --duration)",
    )  # fmt: skip
    p.add_argument(
        "--duration", type=float, default=default(label, "duration"), metavar="SECONDS",
        help="read each video for at most SECONDS after its first frame",
    )  # fmt: skip
    p.add_argument("--jobs", type=int, default=1, help="videos labelled in parallel (default 1)")
    add_shard_option(p)
    add_ray_options(p, "label the videos")
    p.add_argument("--overwrite", action="store_true", help="redo label sets that exist")
    p.add_argument(
        "--overlays",
        action="store_true",
        help="also write Fig. 3 style pictures to OUT/<name>/overlays/",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
