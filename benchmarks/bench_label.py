"""``pympas.label`` with windowed tracking (the default) against continuous tracking and against
bare OpenCV KLT over the whole video: speed and pseudo-label quality, in one run.

Speed: on one video of the synthetic suite (640x480, ``--scene``) and on a real pedestrian video
(``--video``, e.g. opencv-doc's ``vtest.avi``, read as it is), the three run in the same process
on the same file (decoding included in all three), alternately, ``--rounds`` times; the best time
of each is reported, wall clock and process CPU time (steadier on a busy machine). The bare
tracker is the plain OpenCV recipe with the settings of continuous tracking: Shi-Tomasi corners
every 5 frames away from live tracks, pyramidal Lucas-Kanade forward and backward with a 1-pixel
consistency check, every frame. Target (issue 14): windowed >= 3x continuous at stride 20.

Quality:

- windowed vs continuous: IoU of the two pseudo-masks of each labelled frame, mean (and min)
  over the labelled frames, for both timed videos and every suite scene (target: mean >= 0.9);
- against the ground truth: every scene of the six-scene suite (``--suite DIR``, repeatable, or
  ``--seeds N`` suites rendered here) labelled in both modes and scored with
  :func:`pympas.evaluate` on its labelled frames (per-scene IoU, intersection and union summed over
  the frames; mIoU over scenes), against the exact silhouettes ``gt/`` and the annotator-like
  regions ``gt_regions/``. Noise: the per-scene differences windowed - continuous over all
  scenes of all suites give a mean and its standard error (sample standard deviation / sqrt(n));
  windowed is "lower beyond noise" only if the mean difference is below -2 standard errors.

Run with one thread (``OMP_NUM_THREADS=1``, ``--threads 1``); the ratios measured side by side in
one run are what count on a shared machine (the load average is printed before and after).

    OMP_NUM_THREADS=1 python benchmarks/bench_label.py --video vtest.avi --seeds 3
    OMP_NUM_THREADS=1 python benchmarks/bench_label.py --video vtest.avi --suite suite0 --suite s1
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import pympas
from pympas.files import read_mask
from pympas.particles import KLTParams

MODES = ("window", "continuous")
SUITE_SEED_STEP = 100  # suite k is rendered with seed 100 k (its scenes: 100 k + 0..5)


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


def label(video: Path, mode: str, args: argparse.Namespace) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NoMotionWarning
        return pympas.label(
            video, stride=args.stride, tracking=mode, device=args.device, progress=False
        )


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def agreement(sets: dict[str, Any]) -> tuple[float, float]:
    """(mean, min) over the labelled frames of the windowed-vs-continuous mask IoU."""
    a, b = sets["window"], sets["continuous"]
    assert a.frame_indices.tolist() == b.frame_indices.tolist()
    ious = [mask_iou(x, y) for x, y in zip(a.masks, b.masks, strict=True)]
    return float(np.mean(ious)), float(np.min(ious))


def timed(video: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Best-of-rounds wall and CPU time of bare KLT, windowed and continuous label()."""
    wall: dict[str, list[float]] = {k: [] for k in ("bare", *MODES)}
    cpu: dict[str, list[float]] = {k: [] for k in ("bare", *MODES)}
    sets: dict[str, Any] = {}
    for _ in range(args.rounds):
        for kind in ("bare", *MODES):
            t0, c0 = time.perf_counter(), time.process_time()
            if kind == "bare":
                frames, live = bare_klt(video, KLTParams())
            else:
                sets[kind] = label(video, kind, args)
            wall[kind].append(time.perf_counter() - t0)
            cpu[kind].append(time.process_time() - c0)
    h, w = sets["window"].height, sets["window"].width
    fps = {k: frames / min(v) for k, v in wall.items()}
    cfps = {k: frames / min(v) for k, v in cpu.items()}
    return {
        "frames": frames, "size": f"{w}x{h}", "labelled": len(sets["window"]), "live": live,
        "fps": fps, "cpu_fps": cfps, "agreement": agreement(sets),
        "moving": {m: np.mean([c["moving"] for c in sets[m].counts]) for m in MODES},
    }  # fmt: skip


def suite_quality(suites: list[Path], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per scene: IoU against both ground truths in both modes, agreement, labelling fps."""
    rows = []
    for suite in suites:
        for scene in sorted(p for p in suite.iterdir() if (p / "scene.json").is_file()):
            video = next(p for p in scene.iterdir() if p.name.startswith("video."))
            sets, secs = {}, {}
            for mode in MODES:
                t0 = time.perf_counter()
                sets[mode] = label(video, mode, args)
                secs[mode] = time.perf_counter() - t0
            row: dict[str, Any] = {"suite": suite.name, "scene": scene.name}
            for gt in ("gt", "gt_regions"):
                truth = {
                    int(t): read_mask(scene / gt / f"{int(t):06d}.png")
                    for t in sets["window"].frame_indices
                }
                for mode in MODES:
                    ev = pympas.evaluate({scene.name: sets[mode].masks_by_frame()},
                                         {scene.name: truth})  # fmt: skip
                    row[f"{gt}:{mode}"] = ev.scenes[0].iou
            row["agreement"] = agreement(sets)
            n = sets["window"].frame_count
            row["fps"] = {m: n / secs[m] for m in MODES}
            rows.append(row)
            print(f"  {suite.name}/{scene.name}: IoU(gt) window {row['gt:window']:.3f} "
                  f"continuous {row['gt:continuous']:.3f}; agreement {row['agreement'][0]:.3f}; "
                  f"{row['fps']['window']:.0f} vs {row['fps']['continuous']:.0f} fps",
                  flush=True)  # fmt: skip
    return rows


def noise(diffs: list[float]) -> tuple[float, float, str]:
    """Mean difference, its standard error and the verdict at 2 standard errors."""
    d = np.asarray(diffs, float)
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    mean = float(d.mean())
    if not np.isfinite(se):
        verdict = "no noise estimate (one scene)"
    elif mean < -2 * se:
        verdict = "windowed LOWER beyond noise"
    elif mean > 2 * se:
        verdict = "windowed higher beyond noise"
    else:
        verdict = "within noise (|mean| < 2 SE)"
    return mean, se, verdict


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", action="append", default=[], metavar="PATH",
                    help="a real video to time as it is (repeatable), e.g. vtest.avi")  # fmt: skip
    ap.add_argument("--suite", action="append", default=[], type=Path, metavar="DIR",
                    help="a rendered six-scene suite (pympas synth suite); repeatable")  # fmt: skip
    ap.add_argument("--seeds", type=int, default=1, help="suites to render if no --suite")
    ap.add_argument("--frames", type=int, default=300, help="frames of a rendered suite")
    ap.add_argument("--size", default="640x480", help="size of a rendered suite")
    ap.add_argument("--scene", default="corridor", help="the suite video timed")
    ap.add_argument("--stride", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads (default 1)")
    ap.add_argument("--device", default="cpu", help="collectiveness and CRM (default cpu)")
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    print(f"machine: {machine()}; cv2 threads {args.threads}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
          f"load average {os.getloadavg()[0]:.2f} at the start")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        suites = list(args.suite)
        if not suites:
            from pympas.synth import render_suite

            w, h = (int(v) for v in args.size.split("x"))
            for k in range(args.seeds):
                out = Path(tmp) / f"suite-seed{SUITE_SEED_STEP * k}"
                print(f"rendering {out.name} ({args.frames} frames {args.size})", flush=True)
                render_suite(out, seed=SUITE_SEED_STEP * k, frames=args.frames, size=(w, h))
                suites.append(out)
        scene = suites[0] / args.scene
        video = next(p for p in scene.iterdir() if p.name.startswith("video."))
        timed_videos = [(f"{suites[0].name}/{args.scene}", video)]
        timed_videos += [(Path(v).name, Path(v)) for v in args.video]
        speed = []
        for name, video in timed_videos:
            print(f"timing {name} ({args.rounds} rounds)", flush=True)
            speed.append((name, timed(video, args)))
        print("labelling the suite(s) in both modes", flush=True)
        rows = suite_quality(suites, args)
    print(f"load average {os.getloadavg()[0]:.2f} at the end\n")

    print(f"## Speed (stride {args.stride}, best of {args.rounds}; fps = video frames / second)")
    print()
    print("| video | frames | size | labelled | bare KLT fps | continuous fps | windowed fps "
          "| windowed / continuous | windowed / bare | continuous / bare |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in speed:
        for key, what in (("fps", "wall"), ("cpu_fps", "CPU")):
            f = r[key]
            print(f"| {name} ({what}) | {r['frames']} | {r['size']} | {r['labelled']} "
                  f"| {f['bare']:.1f} | {f['continuous']:.1f} | {f['window']:.1f} "
                  f"| **{f['window'] / f['continuous']:.2f}** | {f['window'] / f['bare']:.2f} "
                  f"| {f['continuous'] / f['bare']:.2f} |")  # fmt: skip
    print()
    print("## Windowed vs continuous pseudo-masks (IoU per labelled frame; target mean >= 0.9)")
    print()
    print("| video | mean IoU | min IoU | moving particles per labelled frame (window / cont) |")
    print("|---|---|---|---|")
    for name, r in speed:
        mean, low = r["agreement"]
        print(f"| {name} | {mean:.3f} | {low:.3f} "
              f"| {r['moving']['window']:.0f} / {r['moving']['continuous']:.0f} |")  # fmt: skip
    for row in rows:
        mean, low = row["agreement"]
        print(f"| {row['suite']}/{row['scene']} | {mean:.3f} | {low:.3f} | |")
    every = [row["agreement"][0] for row in rows]
    print(f"| all suite scenes (mean of means) | {np.mean(every):.3f} | | |")
    print()
    print("## CM+CRM pseudo-labels against the ground truth (IoU per scene, labelled frames)")
    print()
    print("| scene | gt window | gt continuous | regions window | regions continuous "
          "| fps window | fps continuous |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['suite']}/{row['scene']} | {row['gt:window']:.3f} "
              f"| {row['gt:continuous']:.3f} | {row['gt_regions:window']:.3f} "
              f"| {row['gt_regions:continuous']:.3f} | {row['fps']['window']:.0f} "
              f"| {row['fps']['continuous']:.0f} |")  # fmt: skip
    for gt in ("gt", "gt_regions"):
        miou = {m: np.mean([row[f"{gt}:{m}"] for row in rows]) for m in MODES}
        mean, se, verdict = noise([row[f"{gt}:window"] - row[f"{gt}:continuous"] for row in rows])
        print(f"\n{gt}/: mIoU windowed {miou['window']:.4f}, continuous {miou['continuous']:.4f} "
              f"over {len(rows)} scenes; per-scene difference {mean:+.4f} +- {se:.4f} (SE): "
              f"{verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
