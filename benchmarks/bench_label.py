"""Throughput of ``pympas.label`` against bare OpenCV KLT tracking of the same 640x480 video.

Both run in the same process on the same AVI file (decoding included in both), alternately,
``--rounds`` times; the best time of each is reported, wall clock and process CPU time (the
latter is steadier on a busy machine; with one OpenCV and one OpenMP thread they should agree).
The bare tracker is the plain OpenCV recipe with the settings label() uses: Shi-Tomasi corners
every 5 frames away from live tracks, pyramidal Lucas-Kanade forward and backward with a 1-pixel
consistency check. Target: label() runs at >= 80% of the bare tracker's frame rate.

    python benchmarks/bench_label.py                       # generated 640x480 crowd video
    python benchmarks/bench_label.py --video vtest.avi     # any video, resized to 640x480
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

import pympas
from pympas.particles import KLTParams

WIDTH, HEIGHT = 640, 480


def generated_crowd(path: Path, frames: int, seed: int = 0) -> None:
    """A 640x480 MJPG video: 40 textured walkers in three streams over a textured background."""
    rng = np.random.default_rng(seed)

    def texture(h: int, w: int) -> np.ndarray:
        tex = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), 1.5)
        return cv2.normalize(tex, None, 0, 255, cv2.NORM_MINMAX)

    background = texture(HEIGHT, WIDTH) * 0.6 + 50
    headings = np.array([[2.0, 0.3], [-1.5, 0.0], [0.5, -1.8]])
    starts = rng.uniform([0, 0], [WIDTH, HEIGHT], (40, 2))
    stream = np.arange(40) % 3
    walkers = [texture(44, 20) for _ in range(40)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (WIDTH, HEIGHT))
    for t in range(frames):
        img = background.copy()
        pos = (starts + headings[stream] * t) % [WIDTH - 20, HEIGHT - 44]
        for (x, y), tex in zip(pos.astype(int), walkers, strict=True):
            img[y : y + 44, x : x + 20] = tex
        writer.write(img.astype(np.uint8))
    writer.release()


def resized(src: str, path: Path, frames: int) -> None:
    cap = cv2.VideoCapture(src)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (WIDTH, HEIGHT))
    for _ in range(frames):
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(cv2.resize(frame, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA))
    writer.release()
    cap.release()


def bare_klt(path: Path, p: KLTParams) -> tuple[int, int]:
    """Plain OpenCV KLT over the video; returns (frames, mean live tracks)."""
    lk = {
        "winSize": (p.win_size, p.win_size),
        "maxLevel": p.max_level,
        "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03),
    }
    cap = cv2.VideoCapture(str(path))
    prev, pts, n, live = None, np.zeros((0, 1, 2), np.float32), 0, 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if prev is not None and len(pts):
            p1, st, _ = cv2.calcOpticalFlowPyrLK(prev, gray, pts, None, **lk)
            p0r, st2, _ = cv2.calcOpticalFlowPyrLK(gray, prev, p1, None, **lk)
            good = (
                (np.abs(pts - p0r).reshape(-1, 2).max(1) < p.fb_threshold)
                & (st.ravel() == 1)
                & (st2.ravel() == 1)
            )
            pts = p1[good]
        if n % p.detect_interval == 0 and len(pts) < p.max_particles:
            mask = np.full(gray.shape, 255, np.uint8)
            for x, y in np.int32(pts.reshape(-1, 2)):
                cv2.circle(mask, (int(x), int(y)), p.min_distance, 0, -1)
            new = cv2.goodFeaturesToTrack(
                gray, p.max_particles - len(pts), p.quality_level, p.min_distance,
                mask=mask, blockSize=p.block_size,
            )  # fmt: skip
            if new is not None:
                pts = np.concatenate([pts, new.astype(np.float32)])
        prev, n, live = gray, n + 1, live + len(pts)
    cap.release()
    return n, live // max(n, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", help="video to resize to 640x480 (default: a generated crowd)")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads (default 1)")
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.avi"
        if args.video:
            resized(args.video, path, args.frames)
        else:
            generated_crowd(path, args.frames)
        bare_t, label_t, bare_cpu, label_cpu = [], [], [], []
        for _ in range(args.rounds):
            t0, c0 = time.perf_counter(), time.process_time()
            n, live = bare_klt(path, KLTParams())
            bare_t.append(time.perf_counter() - t0)
            bare_cpu.append(time.process_time() - c0)
            t0, c0 = time.perf_counter(), time.process_time()
            labels = pympas.label(path, progress=False)
            label_t.append(time.perf_counter() - t0)
            label_cpu.append(time.process_time() - c0)
        t0 = time.perf_counter()
        labels.save(Path(tmp) / "set")
        save_t = time.perf_counter() - t0
    bare_fps, label_fps = n / min(bare_t), n / min(label_t)
    moving = np.mean([c["moving"] for c in labels.counts])
    kept = np.mean([c["kept"] for c in labels.counts])
    print(f"video: {args.video or 'generated crowd'} at {WIDTH}x{HEIGHT}, {n} frames, "
          f"{len(labels)} labelled; cv2 threads {args.threads}")  # fmt: skip
    print(f"tracks alive per frame (bare): {live}; per labelled frame: moving {moving:.0f}, "
          f"kept {kept:.0f}")  # fmt: skip
    bare_cfps, label_cfps = n / min(bare_cpu), n / min(label_cpu)
    print(f"bare OpenCV KLT : {bare_fps:7.1f} fps wall, {bare_cfps:7.1f} fps of CPU time")
    print(f"pympas.label()  : {label_fps:7.1f} fps wall, {label_cfps:7.1f} fps of CPU time")
    print(
        f"ratio label/bare: {label_fps / bare_fps:.2f} wall, {label_cfps / bare_cfps:.2f} CPU time "
        f"(best of {args.rounds}; target >= 0.80)"
    )
    print(f"LabelSet.save   : {1e3 * save_t:.0f} ms for {len(labels)} labelled frames")


if __name__ == "__main__":
    main()
