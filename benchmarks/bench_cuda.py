"""GPU vs CPU benchmark of the CUDA backend (pympas._cuda) against the native CPU kernels.

Usage:
    python benchmarks/bench_cuda.py [--threads 2] [--repeats 10] [--quick]

Measured side by side in one run, on the same inputs:
  * "knn": KNN + velocity correlation (K = 20) of 64 frames x 4000 particles;
  * "phi": KNN + correlation + phi (Jacobi sweeps on the GPU; the CPU's sparse solve);
  * "crm": CRM rasterization of 64 frames of 1920 x 1080 with 3000 discs of radius 20 each,
    into a preallocated uint8 tensor; the achieved write bandwidth (bytes of masks written per
    second) is reported as a fraction of the GPU's theoretical peak memory bandwidth.
GPU times come from CUDA events around the kernel launches alone (pympas._cuda on
device-resident inputs and preallocated outputs, without the input checks of the public API; the
median of ``--repeats`` runs after a warm-up); CPU times are wall-clock medians of the native
kernels with ``--threads`` OpenMP threads. Every GPU result (kernel and public API) is checked
against the CPU one. Prints a table and writes JSON to benchmarks/results/bench_cuda.json.
Without a usable GPU it says so and exits with status 0.

Memory checking on a GPU machine: compute-sanitizer --tool memcheck python
benchmarks/bench_cuda.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="CPU OpenMP threads (default 2)")
    p.add_argument("--repeats", type=int, default=10, help="timed runs per kernel (default 10)")
    p.add_argument("--quick", action="store_true", help="8 frames instead of 64 (smoke test)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    return p.parse_args()


ARGS = parse_args()
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread setting)

import pympas  # noqa: E402
from pympas import _cuda_dispatch  # noqa: E402
from pympas._backend import native  # noqa: E402

FRAMES = 8 if ARGS.quick else 64
K = 20


def gpu_or_exit():
    """(torch, pympas._cuda, device index), or exit 0 with a message when no GPU is usable."""
    try:
        import torch

        from pympas import _cuda
    except ImportError as exc:
        print(f"bench_cuda: skipped, {exc} (needs torch and pympas built with nvcc)")
        sys.exit(0)
    if not torch.cuda.is_available() or _cuda.device_count() == 0:
        status = _cuda.driver_status() or "torch.cuda.is_available() is False"
        print(f"bench_cuda: skipped, no usable CUDA device ({status})")
        sys.exit(0)
    return torch, _cuda, torch.cuda.current_device()


def gpu_time(torch, fn, repeats: int) -> float:
    """Median seconds of fn() on the current stream, by CUDA events, after one warm-up."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / 1e3)
    return statistics.median(times)


def cpu_time(fn, repeats: int):
    """(median seconds, last result) of fn()."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def crowd_batch(frames: int, n: int, seed: int = 0):
    """frames x n particles in a 1920 x 1080 image: coherent groups plus clutter."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, [1920, 1080], (frames * n, 2))
    headings = rng.normal(0, 1, (5, 2))
    velocities = headings[rng.integers(0, 5, frames * n)] + rng.normal(0, 0.3, (frames * n, 2))
    offsets = np.arange(frames + 1, dtype=np.int64) * n
    return points, velocities, offsets


def main() -> int:
    torch, cuda, index = gpu_or_exit()
    info = cuda.device_info(index)
    dev = torch.device("cuda", index)
    cpu_repeats = max(1, min(3, ARGS.repeats))
    rows = []

    # KNN + correlation, and phi.
    points, velocities, offsets = crowd_batch(FRAMES, 4000)
    gp, gv, go = (torch.from_numpy(a).to(dev) for a in (points, velocities, offsets))
    n = len(points)
    g_nbr = torch.empty((n, K), dtype=torch.int64, device=dev)
    g_corr = torch.empty((n, K), dtype=torch.float64, device=dev)
    g_phi_out, work = (torch.empty(n, dtype=torch.float64, device=dev) for _ in range(2))
    stream = torch.cuda.current_stream(dev).cuda_stream
    sweeps = _cuda_dispatch.sweeps_for(K, 1 / (2 * K))

    def gpu_knn():
        cuda.knn_correlation(
            gp.data_ptr(), gv.data_ptr(), go.data_ptr(), FRAMES, n, K,
            g_nbr.data_ptr(), g_corr.data_ptr(), index, stream,
        )  # fmt: skip

    def gpu_phi():
        gpu_knn()
        cuda.individual_collectiveness(
            g_nbr.data_ptr(), g_corr.data_ptr(), n, K, 1 / (2 * K), True, sweeps,
            g_phi_out.data_ptr(), work.data_ptr(), index, stream,
        )  # fmt: skip

    g_knn = gpu_time(torch, gpu_knn, ARGS.repeats)
    c_knn, (nbr, corr) = cpu_time(
        lambda: pympas.knn_correlation(points, velocities, offsets, K), cpu_repeats
    )
    same_knn = bool(
        np.array_equal(g_nbr.cpu().numpy(), nbr) and np.array_equal(g_corr.cpu().numpy(), corr)
    )
    rows.append(("knn", f"{FRAMES} x 4000, K={K}", g_knn, c_knn, same_knn, None))

    g_phi = gpu_time(torch, gpu_phi, ARGS.repeats)
    c_phi, phi = cpu_time(
        lambda: pympas.individual_collectiveness(points, velocities, offsets, K), cpu_repeats
    )
    api_phi = pympas.individual_collectiveness(gp, gv, go, K, device=dev)
    close = bool(
        np.allclose(g_phi_out.cpu().numpy(), phi, rtol=1e-9, atol=1e-12)
        and np.allclose(api_phi.cpu().numpy(), phi, rtol=1e-9, atol=1e-12)
    )
    rows.append(("phi", f"{FRAMES} x 4000, K={K}, {sweeps} sweeps", g_phi, c_phi, close, None))

    # CRM rasterization.
    rng = np.random.default_rng(1)
    centers = rng.uniform(-20, [1940, 1100], (FRAMES * 3000, 2))
    c_offsets = np.arange(FRAMES + 1, dtype=np.int64) * 3000
    gc, gco = torch.from_numpy(centers).to(dev), torch.from_numpy(c_offsets).to(dev)
    out = torch.empty((FRAMES, 1080, 1920), dtype=torch.uint8, device=dev)

    def gpu_crm():
        cuda.rasterize_circles(
            gc.data_ptr(), gco.data_ptr(), FRAMES, 1080, 1920, 20.0, out.data_ptr(), index, stream
        )

    g_crm = gpu_time(torch, gpu_crm, ARGS.repeats)
    c_crm, masks = cpu_time(
        lambda: pympas.rasterize_circles(centers, c_offsets, 1080, 1920, 20), cpu_repeats
    )
    api_masks = pympas.rasterize_circles(gc, gco, 1080, 1920, 20, device=dev)
    same_crm = bool(
        np.array_equal(out.cpu().numpy().astype(bool), masks)
        and np.array_equal(api_masks.cpu().numpy(), masks)
    )
    written = out.numel()  # bytes
    fraction = written / g_crm / info["memory_bandwidth"]
    rows.append(("crm", f"{FRAMES} x 1920x1080, 3000 discs r=20", g_crm, c_crm, same_crm, fraction))

    print(
        f"GPU: {info['name']} (sm_{info['compute_capability'][0]}{info['compute_capability'][1]}, "
        f"{info['memory_bandwidth'] / 1e9:.0f} GB/s peak); CPU: {platform.processor() or '?'} "
        f"with {native().openmp_threads()} OpenMP threads"
    )
    print("| kernel | input | GPU ms | CPU ms | CPU/GPU | GPU == CPU | write BW / peak |")
    print("|---|---|---|---|---|---|---|")
    results = []
    for name, what, g, c, same, frac in rows:
        bw = "" if frac is None else f"{frac:.0%} ({written / g / 1e9:.0f} GB/s)"
        print(f"| {name} | {what} | {g * 1e3:.3f} | {c * 1e3:.1f} | {c / g:.0f}x | {same} | {bw} |")
        results.append(
            {"kernel": name, "input": what, "gpu_s": g, "cpu_s": c, "speedup": c / g,
             "equal": same, "write_bandwidth_fraction": frac}
        )  # fmt: skip
    ARGS.out.mkdir(parents=True, exist_ok=True)
    path = ARGS.out / "bench_cuda.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {"gpu": info, "cpu_threads": ARGS.threads, "frames": FRAMES, "results": results},
            indent=2,
        )
    )
    tmp.replace(path)
    print(f"wrote {path}")
    return 0 if all(r["equal"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
