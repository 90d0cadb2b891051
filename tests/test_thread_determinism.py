"""Results do not depend on the number of OpenMP threads (frames or rows run in parallel)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import pympas

SCRIPT = """
import sys, numpy as np, pympas
d = np.load(sys.argv[1])
p, v, o, c = d["points"], d["velocities"], d["offsets"], d["centers"]
one = np.array([0, o[2]])
res = pympas.collectiveness_batch(p, v, o, k=8)
nbr, corr = pympas.knn_correlation(p, v, o, k=8)
np.savez(sys.argv[2], phi=res.phi, edges=res.edges, clusters=res.clusters, nbr=nbr, corr=corr,
         phi_one=pympas.individual_collectiveness(p[:o[2]], v[:o[2]], one, k=8),
         phi_all=pympas.individual_collectiveness(p, v, o, k=8),
         masks=pympas.rasterize_circles(c, [0, len(c)], 64, 48, 5.5))
"""


def test_outputs_are_identical_with_one_and_with_three_threads(tmp_path):
    rng = np.random.default_rng(7)
    sizes = [400, 0, 250, 30, 300, 5]
    n = sum(sizes)
    velocities = np.repeat(rng.normal(0, 1, (12, 2)), -(-n // 12), axis=0)[:n]
    data = {
        "points": rng.uniform(0, 200, (n, 2)),
        "velocities": velocities + rng.normal(0, 0.2, (n, 2)),
        "offsets": np.concatenate([[0], np.cumsum(sizes)]),
        "centers": rng.uniform(-5, 60, (200, 2)),
    }
    np.savez(tmp_path / "in.npz", **data)
    runs = {}
    for threads in ("1", "3"):
        out = tmp_path / f"out{threads}.npz"
        subprocess.run(
            [sys.executable, "-c", SCRIPT, str(tmp_path / "in.npz"), str(out)],
            check=True,
            env={"OMP_NUM_THREADS": threads, "PATH": ""},
            cwd=tmp_path,
        )
        runs[threads] = np.load(out)
    for key in runs["1"].files:
        np.testing.assert_array_equal(runs["1"][key], runs["3"][key], err_msg=key)
    assert len(runs["1"]["edges"]) > 0 and runs["1"]["masks"].any()
    np.testing.assert_array_equal(
        runs["1"]["phi"],
        pympas.collectiveness_batch(**{k: data[k] for k in data if k != "centers"}, k=8).phi,
    )
