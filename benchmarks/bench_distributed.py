"""Scale-out of ``pympas label``: the same short videos labelled one after the other, by
``--jobs 2`` worker processes and as Ray tasks (``--ray``) on a local Ray instance of 2 CPUs;
wall time, frames per second and frames per second per core, and what the per-core speed means
for a cluster.

    OMP_NUM_THREADS=1 python benchmarks/bench_distributed.py --video vtest.avi
    OMP_NUM_THREADS=1 python benchmarks/bench_distributed.py  # a rendered synthetic corridor

The inputs are ``--videos`` clips of ``--frames`` frames each, cut one after the other from
``--video`` (from its start again where it ends) or from a synthetic corridor scene rendered
here (``pympas.synth``), written as MJPG AVI. Every mode runs the command as a user runs it
(``python -m pympas label CLIPS -o OUT -q``, ``--jobs 2``, ``--ray``) in a fresh process and a
fresh output folder, ``--rounds`` times, best wall time kept; the Ray figure includes starting
and stopping the local instance (also timed alone). The label sets of the three modes are
compared (labels.json and every mask): they must be equal.

Per core: frames / (wall seconds x processes or CPUs used). The cluster estimate divides the
frames of ``--hours`` hours of ``--fps`` video by the sequential per-core speed and by
``--nodes`` x ``--cores-per-node`` cores: ideal scaling, at the resolution of the clips, with
decoding included; storage bandwidth and stragglers are not modelled.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
from bench_label import machine  # the CPU's name (benchmarks/ is on sys.path when run)

#: a driver that starts a local Ray instance of N CPUs, then runs ``pympas label ... --ray``
RAY_DRIVER = """
import sys, ray
ray.init(num_cpus=int(sys.argv[1]), include_dashboard=False, logging_level="warning")
from pympas.cli import main
code = main(["label", *sys.argv[2:], "--ray"])
ray.shutdown()
sys.exit(code)
"""
RAY_START_STOP = """
import sys, ray
ray.init(num_cpus=int(sys.argv[1]), include_dashboard=False, logging_level="warning")
ray.shutdown()
"""


def make_clips(source: Path, folder: Path, count: int, frames: int) -> str:
    """``count`` clips of ``frames`` frames cut one after the other from ``source`` (from its
    start again at its end) into ``folder``; returns their size, WxH."""
    folder.mkdir(parents=True)
    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    size = ""
    for i in range(count):
        writer = None
        for _ in range(frames):
            ok, frame = cap.read()
            if not ok:  # the end: from the start again
                cap.release()
                cap = cv2.VideoCapture(str(source))
                ok, frame = cap.read()
                if not ok:
                    raise SystemExit(f"{source}: cannot read a frame")
            if writer is None:
                h, w = frame.shape[:2]
                size = f"{w}x{h}"
                path = str(folder / f"clip{i:02d}.avi")
                writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
            writer.write(frame)
        writer.release()
    cap.release()
    return size


def timed(cmd: list[str]) -> float:
    """Wall seconds of ``cmd`` (which must succeed)."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return took


def label_sets(out: Path) -> dict[str, object]:
    """What must be equal between modes: every labels.json (parsed) and every mask's bytes."""
    found: dict[str, object] = {}
    for meta in sorted(out.glob("*/labels.json")):
        found[str(meta.relative_to(out))] = json.loads(meta.read_text())
        for mask in sorted((meta.parent / "masks").glob("*.png")):
            found[str(mask.relative_to(out))] = mask.read_bytes()
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", type=Path, help="cut the clips from this video (e.g. vtest.avi)")
    ap.add_argument("--videos", type=int, default=8, help="clips (default 8)")
    ap.add_argument("--frames", type=int, default=250, help="frames per clip (default 250)")
    ap.add_argument("--jobs", type=int, default=2, help="--jobs and Ray CPUs (default 2)")
    ap.add_argument("--rounds", type=int, default=1, help="runs per mode, best kept (default 1)")
    ap.add_argument("--hours", type=float, default=10000, help="archive to estimate (hours)")
    ap.add_argument("--fps", type=float, default=25, help="frame rate of the archive")
    ap.add_argument("--nodes", type=int, default=100, help="cluster nodes")
    ap.add_argument("--cores-per-node", type=int, default=32, help="CPU cores per node")
    args = ap.parse_args()
    print(f"machine: {machine()}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
          f"load average {os.getloadavg()[0]:.2f} at the start", flush=True)  # fmt: skip
    n = args.jobs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = args.video
        if source is None:
            from pympas.synth import render_scene

            print(f"rendering a corridor scene of {args.frames} frames", flush=True)
            render_scene("corridor", root / "scene", frames=args.frames, seed=0)
            source = next((root / "scene").glob("video.*"))
        size = make_clips(source, root / "clips", args.videos, args.frames)
        total = args.videos * args.frames
        print(f"{args.videos} clips of {args.frames} frames, {size}, from {source}", flush=True)
        base = [sys.executable, "-m", "pympas", "label", str(root / "clips"), "-q"]
        modes = {
            "sequential": (1, lambda out: [*base, "-o", out]),
            f"--jobs {n}": (n, lambda out: [*base, "-o", out, "--jobs", str(n)]),
            f"--ray, {n} CPUs": (
                n,
                lambda out: [sys.executable, "-c", RAY_DRIVER, str(n), *base[4:], "-o", out],
            ),
        }
        walls: dict[str, float] = {}
        outputs = {}
        for r in range(args.rounds):
            for i, (name, (_, cmd)) in enumerate(modes.items()):
                out = root / f"out-{r}-{i}"
                took = timed(cmd(str(out)))
                walls[name] = min(walls.get(name, took), took)
                outputs[name] = label_sets(out)
                print(f"  round {r + 1}: {name}: {took:.2f} s", flush=True)
        start_stop = min(timed([sys.executable, "-c", RAY_START_STOP, str(n)]) for _ in range(2))
    reference = outputs["sequential"]
    assert reference, "nothing was labelled"
    same = all(o == reference for o in outputs.values())
    print(f"load average {os.getloadavg()[0]:.2f} at the end\n")
    print(f"## `pympas label` on {args.videos} clips x {args.frames} frames ({size}), "
          f"{total} frames; best of {args.rounds}\n")  # fmt: skip
    print("| mode | processes / CPUs | wall s | frames/s | frames/s per core | vs sequential |")
    print("|---|---|---|---|---|---|")
    seq = walls["sequential"]
    for name, (cores, _) in modes.items():
        w = walls[name]
        print(f"| {name} | {cores} | {w:.2f} | {total / w:.1f} | {total / w / cores:.1f} "
              f"| {seq / w:.2f}x |")  # fmt: skip
    print(f"\nstarting and stopping a local Ray instance of {n} CPUs alone: {start_stop:.2f} s "
          "(in the --ray wall time)")  # fmt: skip
    print(f"label sets of the three modes equal (labels.json, masks): {same}\n")
    per_core = total / seq
    frames = args.hours * 3600 * args.fps
    cores = args.nodes * args.cores_per_node
    hours = frames / per_core / cores / 3600
    print(f"## {args.hours:g} hours of {args.fps:g} fps video on {args.nodes} nodes x "
          f"{args.cores_per_node} cores\n")  # fmt: skip
    print(f"{args.hours:g} h x 3600 s/h x {args.fps:g} frames/s = {frames:.3g} frames; at "
          f"{per_core:.1f} frames/s per core (sequential, {size}) that is "
          f"{frames / per_core:.3g} core-seconds = {frames / per_core / 3600:.3g} core-hours; "
          f"on {cores} cores: {frames / per_core / cores:.3g} s = {hours:.2f} h "
          f"({hours / 24:.2f} days) with ideal scaling, one Ray task per video")  # fmt: skip
    if not same:
        raise SystemExit("the label sets of the modes differ")


if __name__ == "__main__":
    main()
