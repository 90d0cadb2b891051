"""The ``device=`` keyword of the public API: runs the kernels of ``pympas._cuda`` on a GPU.

``device="cpu"`` (the default everywhere) keeps NumPy in, NumPy out. ``device="cuda"``,
``"cuda:N"`` or a ``torch.device`` accepts NumPy arrays or torch tensors (CPU or CUDA) and returns
torch CUDA tensors. The kernels read and write device memory owned by torch tensors and run on
torch's current stream of that device; nothing is copied through the host except NumPy inputs
(uploaded once) and, for :func:`collectiveness_batch`, the link/cluster step (see there).

torch and ``pympas._cuda`` are imported only here and only when a CUDA device is asked for, so
``import pympas`` never needs torch, a GPU or a driver. An unusable device raises RuntimeError
naming ``device``; bad arguments raise ValueError/TypeError naming the argument.

Input checks on CUDA tensors (finite values, monotone offsets) cost one device synchronisation per
call; NumPy inputs are checked on the host before upload.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import pympas._validate as _validate
from pympas._backend import native
from pympas.device import cuda_index, resolve_device

# Relative accuracy the Jacobi sweeps of phi guarantee (clamp_negative=True, see sweeps_for).
PHI_RTOL = 1e-15
# More sweeps than this (zK very close to 1) and phi is solved by the CPU kernel instead.
MAX_SWEEPS = 20000


class _Gpu:
    """torch, pympas._cuda, the torch.device and its current stream, after checking they work."""

    def __init__(self, device: Any) -> None:
        index = cuda_index(resolve_device(device))
        try:
            import torch
        except ImportError as exc:
            raise RuntimeError(f"device={device!r} needs PyTorch (pip install torch)") from exc
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device={device!r} was asked for, but no CUDA device is available "
                "(torch.cuda.is_available() is False); use device='cpu'"
            )
        try:
            from pympas import _cuda
        except ImportError as exc:
            raise RuntimeError(
                f"device={device!r} needs the CUDA extension pympas._cuda, which this install "
                "lacks: reinstall pympas where nvcc is found (PYMPAS_CUDA=ON pip install .)"
            ) from exc
        if index is None:
            index = torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise RuntimeError(
                f"device={device!r}: no CUDA device {index} ({torch.cuda.device_count()} visible)"
            )
        if _cuda.device_count() == 0:
            raise RuntimeError(
                f"device={device!r}: the CUDA runtime of pympas._cuda sees no device "
                f"({_cuda.driver_status()}); a driver for CUDA 13 is needed"
            )
        self.torch = torch
        self.cuda = _cuda
        self.index = int(index)
        self.device = torch.device("cuda", self.index)
        self.stream = int(torch.cuda.current_stream(self.device).cuda_stream)
        self._checks: list[tuple[Any, str]] = []

    # -- inputs ----------------------------------------------------------------------------
    def _is_cuda_tensor(self, value: Any) -> bool:
        return self.torch.is_tensor(value) and value.device.type == "cuda"

    def coordinates(self, name: str, value: Any, n: int | None = None):
        """(N, 2) float64 contiguous tensor on the device."""
        torch = self.torch
        if not self._is_cuda_tensor(value):
            if torch.is_tensor(value):
                value = value.detach().numpy()
            arr = _validate.coordinates(name, value, n)
            return torch.from_numpy(arr).to(self.device)
        if value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
        if value.ndim == 1 and value.numel() == 0:
            value = value.reshape(0, 2)
        if value.ndim != 2 or value.shape[1] != 2:
            raise ValueError(f"{name} must have shape (N, 2), got {tuple(value.shape)}")
        if n is not None and value.shape[0] != n:
            raise ValueError(f"{name} must have {n} rows to match points, got {value.shape[0]}")
        t = value.detach().to(device=self.device, dtype=torch.float64).contiguous()
        self._checks.append((~torch.isfinite(t).all(), f"{name} contains NaN or Inf"))
        big = _validate.MAX_MAGNITUDE
        self._checks.append(
            ((t.abs() > big).any(), f"{name} must lie within +-{big:g} (squares must not overflow)")
        )
        return t

    def offsets(self, name: str, value: Any, n: int):
        """(F+1,) int64 tensor on the device: from 0, non-decreasing, ending at ``n``."""
        torch = self.torch
        if value is None:
            value = [0, n]
        if not self._is_cuda_tensor(value):
            if torch.is_tensor(value):
                value = value.detach().numpy()
            return torch.from_numpy(_validate.offsets(name, value, n)).to(self.device)
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must hold integers, got dtype {value.dtype}")
        if value.ndim != 1 or value.numel() < 1:
            raise ValueError(f"{name} must have shape (F+1,) with F >= 0, got {tuple(value.shape)}")
        t = value.detach().to(device=self.device, dtype=torch.int64).contiguous()
        self._checks.append((t[0] != 0, f"{name} must start at 0"))
        self._checks.append(((t[1:] < t[:-1]).any(), f"{name} must be non-decreasing (monotone)"))
        self._checks.append((t[-1] != n, f"{name} must end at the number of points N={n}"))
        return t

    def run_checks(self) -> None:
        """Evaluate the deferred checks on CUDA inputs (one synchronisation), raise the first."""
        if not self._checks:
            return
        failed = self.torch.stack([flag for flag, _ in self._checks]).cpu().tolist()
        messages = [msg for (_, msg), bad in zip(self._checks, failed, strict=True) if bad]
        self._checks.clear()
        if messages:
            raise ValueError(messages[0])

    # -- kernels ---------------------------------------------------------------------------
    def knn(self, points, velocities, offsets, k: int):
        """neighbors (N, K) int64 and corr (N, K) float64 on the device."""
        torch = self.torch
        n = points.shape[0]
        neighbors = torch.empty((n, k), dtype=torch.int64, device=self.device)
        corr = torch.empty((n, k), dtype=torch.float64, device=self.device)
        self.cuda.knn_correlation(
            points.data_ptr(), velocities.data_ptr(), offsets.data_ptr(), offsets.numel() - 1,
            n, k, neighbors.data_ptr(), corr.data_ptr(), self.index, self.stream,
        )  # fmt: skip
        return neighbors, corr

    def phi(self, neighbors, corr, k: int, z: float, clamp_negative: bool, sweeps: int):
        """phi (N,) float64 on the device by ``sweeps`` Jacobi sweeps."""
        n = neighbors.shape[0]
        phi = self.torch.empty(n, dtype=self.torch.float64, device=self.device)
        work = self.torch.empty_like(phi)
        self.cuda.individual_collectiveness(
            neighbors.data_ptr(), corr.data_ptr(), n, k, z, clamp_negative, sweeps,
            phi.data_ptr(), work.data_ptr(), self.index, self.stream,
        )  # fmt: skip
        return phi


def check_k(k: int) -> None:
    """The CUDA KNN keeps its K best candidates in registers/local memory: K <= 64."""
    if k > 64:
        raise ValueError(f"k must be <= 64 on CUDA devices, got {k}")


def sweeps_for(k: int, z: float) -> int:
    """Jacobi sweeps so that phi is within PHI_RTOL relative of the exact solution.

    From phi_0 = 0 the error after T sweeps is (zW)^T phi*. With q = zK >= ||zW||_inf and
    W >= 0 (clamp_negative=True), |error_i| <= (zW^T 1)_i q^(T-1) max(phi*) <= phi_i q^T / (1 - q),
    since phi_i >= (zW 1)_i and max(phi*) <= q / (1 - q). With negative weights the same bound
    holds in absolute terms (relative to max |phi|).
    """
    q = min(z * k * (1.0 + 1e-12), 1.0 - 1e-16)
    return max(1, math.ceil(math.log(PHI_RTOL * (1.0 - q)) / math.log(q)) + 1)


def _crowd(device: Any, points, velocities, offsets):
    """The usable GPU and the particle arrays checked and on it."""
    gpu = _Gpu(device)
    points = gpu.coordinates("points", points)
    n = points.shape[0]
    velocities = gpu.coordinates("velocities", velocities, n)
    offsets = gpu.offsets("offsets", offsets, n)
    gpu.run_checks()
    return gpu, points, velocities, offsets


def knn_correlation(points, velocities, offsets, k: int, device: Any):
    """CUDA path of :func:`pympas.knn_correlation`: returns (neighbors, corr) torch tensors."""
    k = _validate.integer("k", k, 1)
    check_k(k)
    gpu, points, velocities, offsets = _crowd(device, points, velocities, offsets)
    return gpu.knn(points, velocities, offsets, k)


def individual_collectiveness(points, velocities, offsets, k: int, z, clamp_negative, device):
    """CUDA path of :func:`pympas.individual_collectiveness`: phi (N,) as a torch tensor."""
    k = _validate.integer("k", k, 1)
    check_k(k)
    z = _validate.coupling(z, k)
    gpu, points, velocities, offsets = _crowd(device, points, velocities, offsets)
    return _phi(
        gpu, points, velocities, offsets, k, z, _validate.flag("clamp_negative", clamp_negative)
    )


def _phi(gpu: _Gpu, points, velocities, offsets, k: int, z: float, clamp_negative: bool):
    sweeps = sweeps_for(k, z)
    if sweeps > MAX_SWEEPS:  # zK close to 1: the Neumann series converges too slowly
        phi = native().individual_collectiveness(
            *(t.cpu().numpy() for t in (points, velocities, offsets)), k, z, clamp_negative
        )
        return gpu.torch.from_numpy(phi).to(gpu.device)
    neighbors, corr = gpu.knn(points, velocities, offsets, k)
    return gpu.phi(neighbors, corr, k, z, clamp_negative, sweeps)


def collectiveness_batch(
    points, velocities, offsets, k, z, clamp_negative, min_cluster_size, device
):
    """CUDA path of :func:`pympas.collectiveness_batch`.

    phi comes from the GPU (KNN + Jacobi sweeps). The link decisions Z[i, j] > 0.6 kappa must be
    exact, which the CPU kernel's sparse factorisation guarantees; they and the clusters are
    computed by ``pympas._native`` on host copies of the inputs while the GPU works, then
    uploaded. Returns (phi, edges, clusters, offsets) as torch tensors on the device and the
    link threshold 0.6 kappa.
    """
    k = _validate.integer("k", k, 1)
    check_k(k)
    z = _validate.coupling(z, k)
    clamp_negative = _validate.flag("clamp_negative", clamp_negative)
    min_cluster_size = _validate.integer("min_cluster_size", min_cluster_size, 1)
    gpu, points, velocities, offsets = _crowd(device, points, velocities, offsets)
    host = [t.cpu().numpy() for t in (points, velocities, offsets)]
    phi = _phi(gpu, points, velocities, offsets, k, z, bool(clamp_negative))  # queued on the GPU
    _, edges, clusters = native().collectiveness(
        *host, k, z, bool(clamp_negative), min_cluster_size
    )
    torch = gpu.torch
    return (
        phi,
        torch.from_numpy(np.ascontiguousarray(edges)).to(gpu.device),
        torch.from_numpy(np.ascontiguousarray(clusters)).to(gpu.device),
        offsets,
        native().link_threshold(k, z),
    )


def rasterize_circles(centers, offsets, height: int, width: int, radius: float, device, out=None):
    """CUDA path of :func:`pympas.rasterize_circles`: (F, H, W) bool (or ``out``) on the device."""
    height = _validate.integer("height", height, 1)
    width = _validate.integer("width", width, 1)
    radius = _validate.length("radius", radius)
    if height >= 2**31 - 2**11 or width >= 2**31 - 2**11:
        raise ValueError("height and width must be below 2**31 - 2**11 on CUDA devices")
    gpu = _Gpu(device)
    torch = gpu.torch
    centers = gpu.coordinates("centers", centers)
    offsets = gpu.offsets("offsets", offsets, centers.shape[0])
    frames = offsets.numel() - 1
    if out is None:
        out = torch.empty((frames, height, width), dtype=torch.bool, device=gpu.device)
    else:
        if not torch.is_tensor(out) or out.dtype not in (torch.uint8, torch.bool):
            raise TypeError("out must be a torch tensor of dtype uint8 or bool")
        if tuple(out.shape) != (frames, height, width):
            raise ValueError(
                f"out must have shape (F, H, W) = {(frames, height, width)}, got {tuple(out.shape)}"
            )
        if out.device != gpu.device or not out.is_contiguous():
            raise ValueError(f"out must be a contiguous tensor on {gpu.device}")
    gpu.run_checks()
    gpu.cuda.rasterize_circles(
        centers.data_ptr(), offsets.data_ptr(), frames, height, width, radius,
        out.data_ptr(), gpu.index, gpu.stream,
    )  # fmt: skip
    return out
