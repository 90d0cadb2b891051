"""The CUDA backend (pympas._cuda, device="cuda"): behaviours only the CUDA path has.

Tests marked ``cuda`` need a CUDA device and skip without one: CUDA tensors as inputs, ``out=``
tensors on the caller's stream, the K <= 64 limit, results on the requested device, and phi and
clusters against the CPU kernel and the NumPy reference. The properties that CPU and CUDA share
(KNN, correlations and masks equal to the NumPy reference bit for bit) are the ``cuda`` runs of
the ``device``-parametrised tests in test_native_matches_reference.py. The other tests here run
everywhere: the ``device`` keyword's errors on a machine without a GPU, the lazy import of torch
and pympas._cuda, and that the extension was built and imports (static CUDA runtime, no driver
needed) wherever nvcc exists.

On a GPU machine, also run the GPU tests under the memory checker once:

    compute-sanitizer --tool memcheck --leak-check full pytest -m cuda tests/
"""

from __future__ import annotations

import importlib
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers.devices import cuda_unavailable_reason
from helpers.strategies import SETTINGS, couplings, crowds
from hypothesis import given, settings
from hypothesis import strategies as st

import pympas
from pympas import _cuda_dispatch, reference
from pympas.device import resolve_device

GPU = cuda_unavailable_reason() is None
needs_gpu = pytest.mark.skipif(not GPU, reason=cuda_unavailable_reason() or "")


def _nvcc_present() -> bool:
    return shutil.which("nvcc") is not None or os.path.exists("/usr/local/cuda/bin/nvcc")


# --- runs everywhere ------------------------------------------------------------------------


@pytest.mark.skipif(
    not _nvcc_present() or os.environ.get("PYMPAS_CUDA", "AUTO").upper() == "OFF",
    reason="built without nvcc",
)
def test_cuda_extension_was_built_and_imports_without_a_driver():
    cuda = importlib.import_module("pympas._cuda")
    assert cuda.MAX_K == 64
    count = cuda.device_count()  # 0 without a driver; never raises
    assert isinstance(count, int) and count >= 0
    assert (cuda.driver_status() == "") == (count > 0)


def test_cuda_kernel_without_a_device_raises_runtime_error_instead_of_crashing():
    cuda = pytest.importorskip("pympas._cuda")
    if cuda.device_count() > 0:
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="CUDA"):
        cuda.rasterize_circles(0, 0, 1, 8, 8, 1.0, 0, 0, 0)
    with pytest.raises(RuntimeError, match="CUDA"):
        cuda.knn_correlation(0, 0, 0, 1, 4, 2, 0, 0, 0, 0)
    with pytest.raises(RuntimeError, match="CUDA"):
        cuda.device_info(0)


def test_import_pympas_and_cpu_calls_never_import_torch_or_the_cuda_module(tmp_path):
    code = (
        "import sys; sys.modules['torch'] = None\n"  # torch made unimportable
        "import numpy as np, pympas\n"
        "m = pympas.rasterize_circles(np.array([[1.0, 1.0]]), None, 3, 3, 1, device='cpu')\n"
        "p = np.random.rand(30, 2)\n"
        "r = pympas.collectiveness_batch(p, p + 1, [0, 30], k=3, min_cluster_size=1)\n"
        "assert m.sum() == 5 and r.keep.all()\n"
        "assert 'pympas._cuda' not in sys.modules\n"
        "try:\n"
        "    pympas.rasterize_circles(np.zeros((1, 2)), None, 3, 3, device='cuda')\n"
        "except RuntimeError as e:\n"
        "    assert 'device=' in str(e) and 'PyTorch' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('no error')\n"
    )
    # Run outside the checkout so that the installed package is imported.
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=tmp_path)


@pytest.mark.skipif(GPU, reason="a CUDA device is present")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_device_without_a_gpu_raises_a_clear_error(device):
    pts = np.random.default_rng(0).uniform(0, 10, (12, 2))
    calls = [
        lambda: pympas.rasterize_circles(pts, None, 16, 16, device=device),
        lambda: pympas.knn_correlation(pts, pts, None, 3, device=device),
        lambda: pympas.collectiveness_batch(pts, pts, [0, 12], k=3, device=device),
        lambda: pympas.individual_collectiveness(pts, pts, None, 3, device=device),
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match="device="):
            call()


def test_torch_device_objects_are_accepted_as_device():
    torch = pytest.importorskip("torch")
    assert resolve_device(torch.device("cpu")) == "cpu"
    assert resolve_device(torch.device("cuda", 2)) == "cuda:2"
    assert resolve_device(torch.device("cuda")) == "cuda"
    m = pympas.rasterize_circles(np.array([[2.0, 2.0]]), None, 5, 5, 1, device=torch.device("cpu"))
    assert isinstance(m, np.ndarray) and m.sum() == 5


@pytest.mark.parametrize("device", ["tpu", "cuda:", "cuda:x", "gpu0", ""])
def test_unknown_device_strings_raise_value_error_naming_device(device):
    with pytest.raises(ValueError, match="device"):
        pympas.rasterize_circles(np.zeros((1, 2)), None, 4, 4, device=device)


def test_non_string_device_raises_type_error_naming_device():
    with pytest.raises(TypeError, match="device"):
        pympas.knn_correlation(np.zeros((3, 2)), np.zeros((3, 2)), None, 1, device=0)


def test_out_is_rejected_on_the_cpu():
    with pytest.raises(ValueError, match="out"):
        pympas.rasterize_circles(np.zeros((1, 2)), None, 4, 4, out=np.zeros((1, 4, 4), bool))


@pytest.mark.parametrize("zk", [0.05, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("clamp", [True, False])
def test_jacobi_sweep_count_reaches_the_dense_phi(zk, clamp):
    """The sweeps the GPU runs (same count, same update, emulated in NumPy) reach the exact phi."""
    rng = np.random.default_rng(int(zk * 100) + clamp)
    n, k = 150, 8
    points = rng.uniform(0, 30, (n, 2))
    velocities = rng.normal(0, 1, (n, 2)) + (rng.normal(0, 2, 2) if clamp else 0)
    z = zk / k
    nbr, corr = reference.knn_correlation(points, velocities, np.array([0, n]), k)
    w = np.where(nbr >= 0, np.maximum(corr, 0.0) if clamp else corr, 0.0)
    phi = np.zeros(n)
    for _ in range(_cuda_dispatch.sweeps_for(k, z)):
        phi = z * (w * (1.0 + phi[np.maximum(nbr, 0)])).sum(axis=1)
    exact = reference.path_similarity(reference.weight_matrix(nbr, corr, clamp), z).sum(axis=1)
    np.testing.assert_allclose(phi, exact, rtol=1e-11, atol=1e-13 * np.abs(exact).max())
    assert _cuda_dispatch.sweeps_for(k, 1 / (2 * k)) <= 60  # the paper's z: few sweeps


def test_sweeps_grow_as_zk_approaches_one_and_hand_over_to_the_cpu():
    counts = [_cuda_dispatch.sweeps_for(20, f / 20) for f in (0.1, 0.5, 0.9, 0.99, 0.9999)]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    assert counts[-1] > _cuda_dispatch.MAX_SWEEPS  # solved by the CPU kernel instead
    q = 0.9
    t = _cuda_dispatch.sweeps_for(20, q / 20)
    assert q**t / (1 - q) <= _cuda_dispatch.PHI_RTOL < q ** (t - 2) / (1 - q)


# --- needs a GPU ------------------------------------------------------------------------------


def _torch():
    import torch

    return torch


@pytest.mark.cuda
@needs_gpu
@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_gpu_phi_and_collectiveness_match_cpu_and_reference(data):
    points, velocities, offsets, k = data.draw(crowds(max_points=200))
    z = data.draw(couplings(k))
    clamp = data.draw(st.booleans())
    res = pympas.collectiveness_batch(points, velocities, offsets, k, z, clamp, 5, device="cuda")
    cpu = pympas.collectiveness_batch(points, velocities, offsets, k, z, clamp, 5)
    phi = res.phi.cpu().numpy()
    scale = max(1.0, float(np.abs(cpu.phi).max(initial=0.0)))
    np.testing.assert_allclose(phi, cpu.phi, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_array_equal(res.edges.cpu().numpy(), cpu.edges)
    np.testing.assert_array_equal(res.clusters.cpu().numpy(), cpu.clusters)
    assert res.threshold == cpu.threshold
    np.testing.assert_array_equal(res.offsets.cpu().numpy(), offsets)
    alone = pympas.individual_collectiveness(
        points, velocities, offsets, k, z, clamp, device="cuda"
    )
    np.testing.assert_allclose(alone.cpu().numpy(), cpu.phi, rtol=1e-9, atol=1e-12 * scale)
    if len(points) <= 150:  # the dense reference, frame by frame
        ref = reference.collectiveness_batch(points, velocities, offsets, k, z, clamp, 5)
        np.testing.assert_allclose(phi, ref["phi"], rtol=1e-9, atol=1e-12 * scale)


@pytest.mark.cuda
@needs_gpu
def test_gpu_rasterization_overwrites_every_byte_of_out_on_the_callers_stream():
    torch = _torch()
    rng = np.random.default_rng(5)
    centers = rng.uniform(-20, 120, (300, 2))
    offsets = np.array([0, 0, 100, 300])  # an empty first frame
    cpu = pympas.rasterize_circles(centers, offsets, 90, 112, 7.5)
    for dtype in (torch.uint8, torch.bool):
        out = torch.full((3, 90, 112), 7, dtype=torch.uint8, device="cuda").to(dtype)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())  # out is filled on the default stream
        with torch.cuda.stream(stream):
            got = pympas.rasterize_circles(
                torch.from_numpy(centers).cuda(), torch.from_numpy(offsets).cuda(), 90, 112, 7.5,
                device="cuda", out=out,
            )  # fmt: skip
        stream.synchronize()
        assert got is out
        np.testing.assert_array_equal(out.cpu().numpy().astype(bool), cpu)
        assert set(np.unique(out.cpu().numpy().view(np.uint8)).tolist()) <= {0, 1}


@pytest.mark.cuda
@needs_gpu
def test_gpu_inputs_as_cuda_tensors_are_validated_with_errors_naming_the_argument():
    torch = _torch()
    pts = torch.rand(10, 2, dtype=torch.float64, device="cuda")
    bad = pts.clone()
    bad[3, 1] = math.nan
    with pytest.raises(ValueError, match="velocities"):
        pympas.knn_correlation(pts, bad, None, 3, device="cuda")
    with pytest.raises(ValueError, match="offsets"):
        pympas.knn_correlation(
            pts, pts, torch.tensor([0, 6, 4, 10], device="cuda"), 3, device="cuda"
        )
    with pytest.raises(ValueError, match="offsets"):
        pympas.rasterize_circles(pts, torch.tensor([0, 9], device="cuda"), 4, 4, device="cuda")
    with pytest.raises(ValueError, match="k"):
        pympas.knn_correlation(pts, pts, None, 65, device="cuda")
    with pytest.raises(ValueError, match="out"):
        out = torch.zeros((1, 4, 5), dtype=torch.uint8, device="cuda")
        pympas.rasterize_circles(pts, None, 4, 4, device="cuda", out=out)


@pytest.mark.cuda
@needs_gpu
def test_gpu_results_come_back_on_the_requested_device_with_cpu_semantics_per_frame():
    torch = _torch()
    rng = np.random.default_rng(2)
    pts = rng.uniform(0, 40, (80, 2))
    vel = np.tile([1.0, 0.2], (80, 1)) + rng.normal(0, 0.1, (80, 2))
    res = pympas.collectiveness_batch(pts, vel, [0, 50, 50, 80], k=6, device=torch.device("cuda"))
    assert res.phi.device.type == "cuda" and res.edges.dtype == torch.int64
    cpu = pympas.collectiveness_batch(pts, vel, [0, 50, 50, 80], k=6)
    for f in range(3):
        g, c = res.frame(f), cpu.frame(f)
        np.testing.assert_array_equal(g.clusters.cpu().numpy(), c.clusters)
        np.testing.assert_array_equal(g.edges.cpu().numpy(), c.edges)
