"""Kernel benchmark: native C++ kernels vs the dense NumPy reference on the same random frames.

Usage:
    python benchmarks/bench_kernels.py [--threads 1] [--budget 20] [--quick]

Times, on one frame of N particles (uniform density, a few coherent groups plus clutter):
  * "phi": KNN + velocity correlation + phi (Eqs. 1-5): ``pympas.individual_collectiveness``
    vs the reference's KNN, dense W and dense inverse row sums;
  * "full": phi, links and clusters: ``pympas.collectiveness`` vs
    ``reference.collectiveness_frame``;
  * "knn": ``pympas.knn_correlation`` alone;
and CRM rasterization of 64 frames of 1920 x 1080 with 3000 discs of radius 20 each.
Prints a markdown table and writes JSON to benchmarks/results/. Thread counts are fixed (OpenMP
and BLAS) before numpy is imported; the default is one thread, the setting of the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="OpenMP/BLAS threads (default 1)")
    p.add_argument(
        "--budget", type=float, default=20.0, help="stop a series once one run exceeds this (s)"
    )
    p.add_argument("--quick", action="store_true", help="small sizes only (smoke test)")
    p.add_argument(
        "--clock",
        choices=["auto", "cpu", "wall"],
        default="auto",
        help="process CPU time or wall time; auto: CPU time with one thread (robust on a "
        "shared machine), wall time otherwise",
    )
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    return p.parse_args()


ARGS = parse_args()
CLOCK = ("cpu" if ARGS.threads == 1 else "wall") if ARGS.clock == "auto" else ARGS.clock
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread settings)

import pympas  # noqa: E402
from pympas import reference  # noqa: E402

K = 20


def crowd(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One frame of n particles at constant density (about one per 100 px^2): 70% in 4 coherent
    groups, 30% clutter with random velocities."""
    rng = np.random.default_rng(seed)
    side = 10.0 * np.sqrt(n)
    points = rng.uniform(0, side, (n, 2))
    group = rng.integers(0, 5, n)  # 0 = clutter
    headings = rng.normal(0, 1, (5, 2))
    velocities = headings[group] + rng.normal(0, 0.3, (n, 2))
    clutter = group == 0
    velocities[clutter] = rng.normal(0, 1, (int(clutter.sum()), 2))
    return points, velocities


def best_time(fn, repeats: int, *args, **kwargs) -> float:
    """Best wall time of ``fn(*args, **kwargs)`` over ``repeats`` runs, in seconds."""
    clock = time.process_time if CLOCK == "cpu" else time.perf_counter
    best = float("inf")
    for _ in range(repeats):
        t0 = clock()
        fn(*args, **kwargs)
        best = min(best, clock() - t0)
    return best


def reference_phi(points: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """The dense reference path for phi alone: KNN, dense W, dense inverse, row sums."""
    z = 1.0 / (2 * K)
    nbr, corr = reference.knn_correlation(points, velocities, np.array([0, len(points)]), K)
    w = reference.weight_matrix(nbr, corr, True)
    return reference.path_similarity(w, z).sum(axis=1)


def main() -> int:
    sizes_ref = [500, 1000] if ARGS.quick else [500, 1000, 2000, 4000]
    sizes_native = sizes_ref + ([] if ARGS.quick else [10_000, 30_000, 100_000])
    rows = []
    stopped = {"full": False, "ref": False}
    for n in sizes_native:
        points, velocities = crowd(n)
        row: dict[str, float | int | None] = {"n": n}
        reps = 3 if n <= 30_000 else 1
        row["native_knn_s"] = best_time(pympas.knn_correlation, reps, points, velocities, k=K)
        row["native_phi_s"] = best_time(
            pympas.individual_collectiveness, reps, points, velocities, k=K
        )
        row["native_full_s"] = None
        if not stopped["full"]:
            t = best_time(pympas.collectiveness, 3 if n <= 4000 else 1, points, velocities, k=K)
            row["native_full_s"] = t
            stopped["full"] = t > ARGS.budget
        row["ref_phi_s"] = row["ref_full_s"] = None
        if n in sizes_ref and not stopped["ref"]:
            row["ref_phi_s"] = best_time(reference_phi, 1, points, velocities)
            row["ref_full_s"] = best_time(reference.collectiveness_frame, 1, points, velocities, K)
            stopped["ref"] = row["ref_full_s"] > ARGS.budget
            # The two paths agree on these very frames.
            mine = pympas.individual_collectiveness(points, velocities, k=K)
            np.testing.assert_allclose(mine, reference_phi(points, velocities), rtol=1e-9)
        rows.append(row)
        print(f"  N={n}: {row}", file=sys.stderr, flush=True)

    # CRM rasterization: 64 frames 1920 x 1080, 3000 discs of radius 20 per frame.
    frames, discs, height, width = (8, 300, 540, 960) if ARGS.quick else (64, 3000, 1080, 1920)
    rng = np.random.default_rng(1)
    centers = rng.uniform([-20, -20], [width + 20, height + 20], (frames * discs, 2))
    offsets = np.arange(frames + 1) * discs
    crm_native = best_time(lambda: pympas.rasterize_circles(centers, offsets, height, width, 20), 3)
    ref_frames = 2
    crm_ref = best_time(
        lambda: reference.rasterize_circles(
            centers[: ref_frames * discs], offsets[: ref_frames + 1], height, width, 20
        ),
        1,
    )
    crm = {
        "frames": frames,
        "discs_per_frame": discs,
        "height": height,
        "width": width,
        "radius": 20,
        "native_s": crm_native,
        "reference_s_per_frame": crm_ref / ref_frames,
    }

    def fmt(v: float | None) -> str:
        if v is None:
            return "-"
        return f"{v * 1e3:.1f} ms" if v < 1 else f"{v:.2f} s"

    def ratio(a: float | None, b: float | None) -> str:
        return "-" if a is None or b is None else f"{a / b:.0f}x"

    lines = [
        f"Threads: {ARGS.threads}; {CLOCK} time, best of 1-3 runs; K = {K}, z = 1/(2K); "
        "one frame of N particles; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "",
        "| N | native KNN+corr | native KNN+corr+phi | dense ref phi | speed-up phi "
        "| native full | dense ref full | speed-up full |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {fmt(r['native_knn_s'])} | {fmt(r['native_phi_s'])} "
            f"| {fmt(r['ref_phi_s'])} | {ratio(r['ref_phi_s'], r['native_phi_s'])} "
            f"| {fmt(r['native_full_s'])} | {fmt(r['ref_full_s'])} "
            f"| {ratio(r['ref_full_s'], r['native_full_s'])} |"
        )
    full = [(r["n"], r["native_full_s"]) for r in rows if r["native_full_s"]]
    if len(full) >= 2:
        (n0, t0), (n1, t1) = full[0], full[-1]
        lines += [
            "",
            f"Native full collectiveness growth N={n0}..{n1}: "
            f"t ~ N^{np.log(t1 / t0) / np.log(n1 / n0):.2f}",
        ]
    phi = [(r["n"], r["native_phi_s"]) for r in rows]
    (n0, t0), (n1, t1) = phi[0], phi[-1]
    lines.append(
        f"Native KNN+corr+phi growth N={n0}..{n1}: t ~ N^{np.log(t1 / t0) / np.log(n1 / n0):.2f}"
    )
    lines += [
        "",
        f"CRM rasterization, {frames} frames {width}x{height}, {discs} discs r=20 each: "
        f"native {fmt(crm_native)} total ({fmt(crm_native / frames)} per frame); "
        f"reference {fmt(crm['reference_s_per_frame'])} per frame "
        f"({crm['reference_s_per_frame'] * frames / crm_native:.0f}x)",
    ]
    table = "\n".join(lines)
    print(table)
    ARGS.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = ARGS.out / f"bench_kernels_{stamp}_t{ARGS.threads}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(
        json.dumps(
            {
                "pympas_version": pympas.__version__,
                "threads": ARGS.threads,
                "clock": CLOCK,
                "k": K,
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "collectiveness": rows,
                "rasterize": crm,
                "table": table,
            },
            indent=2,
        )
    )
    tmp.replace(path)
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
