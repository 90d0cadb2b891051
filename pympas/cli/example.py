"""``pympas example``: collectiveness of a generated crowd of moving points, as a summary."""

from __future__ import annotations

import argparse
import time

import numpy as np

from pympas.cli._common import default
from pympas.collectiveness import collectiveness_batch
from pympas.crm import crm_masks
from pympas.example import generated_crowd


def run(args: argparse.Namespace) -> int:
    points, velocities, offsets, group = generated_crowd(seed=args.seed)
    t0 = time.perf_counter()
    res = collectiveness_batch(points, velocities, offsets, k=args.k)
    t1 = time.perf_counter()
    masks = crm_masks(points, res.keep, offsets, 480, 640)
    t2 = time.perf_counter()
    walkers = group > 0
    print(
        f"generated crowd: {len(offsets) - 1} frames, {len(points)} particles "
        f"({walkers.sum()} walking in 3 groups, {(~walkers).sum()} clutter)"
    )
    print(f"K={args.k}, z=1/(2K), link threshold 0.6 kappa = {res.threshold:.4f}")
    print(
        f"mean phi: walking {res.phi[walkers].mean():.3f}, clutter {res.phi[~walkers].mean():.3f}"
    )
    n_clusters = len(np.unique(res.clusters[res.keep]))
    print(
        f"kept by collective merging: {res.keep[walkers].mean():.1%} of walkers, "
        f"{res.keep[~walkers].mean():.1%} of clutter; {n_clusters} clusters"
    )
    radius = default(crm_masks, "radius")
    print(f"CRM pseudo-mask coverage (radius {radius:g}): {masks.mean():.1%} of pixels")
    print(f"collectiveness {1e3 * (t1 - t0):.1f} ms, CRM {1e3 * (t2 - t1):.1f} ms")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("example", help="collectiveness of a generated crowd, printed as a summary")
    k = default(collectiveness_batch, "k")
    p.add_argument("--k", type=int, default=k, help=f"neighbours per particle (default {k})")
    p.add_argument("--seed", type=int, default=default(generated_crowd, "seed"))
    p.set_defaults(func=run)
