"""Time `pympas.synth.render_scene` for a full-size scene on one core (wall and CPU time).

    python benchmarks/bench_synth.py [SCENARIO ...] [--frames 300] [--size 640x480]

Target (issue 5): a 300-frame 640x480 scene in under 30 s on one core. CPU time is printed
besides wall time because shared machines inflate wall time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenarios", nargs="*", default=["corridor", "bottleneck", "ring"])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", default="640x480")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    cv2.setNumThreads(1)
    from pympas.synth import prepare, render_scene

    for name in args.scenarios:
        with tempfile.TemporaryDirectory() as tmp:
            c0 = time.process_time()
            prepare(name, frames=1, size=(w, h))  # warm imports
            c1, w1 = time.process_time(), time.perf_counter()
            info = render_scene(name, Path(tmp) / name, frames=args.frames, size=(w, h))
            c2, w2 = time.process_time(), time.perf_counter()
        print(
            f"{name}: {args.frames} frames {w}x{h}, {info.people} people: "
            f"{w2 - w1:.1f} s wall, {c2 - c1:.1f} s CPU (1 thread; warm-up {c1 - c0:.1f} s CPU)",
            flush=True,
        )


if __name__ == "__main__":
    main()
