"""Argument checks shared by the public API: every error names the offending argument.

The numeric domain of the kernels: positions, velocities and radii are finite with magnitude at
most :data:`MAX_MAGNITUDE` (1e150), so that every square and every sum of squared differences
the kernels form (at most 2 (2e150)^2 = 8e300) is finite in double precision; inside it the CPU
and CUDA kernels are exact. Integers handed to the kernels fit in int64.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

#: largest magnitude of a coordinate, a velocity component or a radius (see the module docstring)
MAX_MAGNITUDE = 1e150
#: largest integer the native kernels take (int64)
MAX_INT = 2**63 - 1


def _is_array_like(value: Any) -> bool:
    return isinstance(value, (np.ndarray, list, tuple)) or hasattr(value, "__array__")


def coordinates(name: str, value: Any, n: int | None = None) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array of shape (N, 2), checking that it is
    finite and within :data:`MAX_MAGNITUDE`."""
    if not _is_array_like(value):
        raise TypeError(f"{name} must be an array of shape (N, 2), got {type(value).__name__}")
    arr = np.asarray(value)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must have {n} rows to match points, got {arr.shape[0]}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or Inf")
    big = np.abs(arr) > MAX_MAGNITUDE
    if big.any():
        row = int(np.flatnonzero(big.any(axis=1))[0])
        raise ValueError(
            f"{name} must lie within +-{MAX_MAGNITUDE:g} (their squares must not overflow), "
            f"got {arr[row].tolist()} in row {row}"
        )
    return arr


def length(name: str, value: Any) -> float:
    """Return ``value`` as a float in [0, :data:`MAX_MAGNITUDE`] (a radius)."""
    value = real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    if value > MAX_MAGNITUDE:
        raise ValueError(
            f"{name} must be at most {MAX_MAGNITUDE:g} (its square must not overflow), got {value}"
        )
    return value


def flag(name: str, value: Any) -> bool:
    """Return ``value`` as a bool, requiring True or False (None is not False)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def offsets(name: str, value: Any, n: int) -> np.ndarray:
    """Return frame offsets (F+1,) as int64: starting at 0, non-decreasing, ending at ``n``."""
    if not _is_array_like(value):
        raise TypeError(f"{name} must be a 1-D integer array of shape (F+1,)")
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.size < 1:
        raise ValueError(f"{name} must have shape (F+1,) with F >= 0, got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if (
            np.issubdtype(arr.dtype, np.floating)
            and np.all(np.isfinite(arr))
            and np.all(arr == np.round(arr))
        ):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr[0] != 0:
        raise ValueError(f"{name} must start at 0, got {arr[0]}")
    if np.any(np.diff(arr) < 0):
        raise ValueError(f"{name} must be non-decreasing (monotone)")
    if arr[-1] != n:
        raise ValueError(f"{name} must end at the number of points N={n}, got {arr[-1]}")
    return arr


def integer(name: str, value: Any, minimum: int, maximum: int = MAX_INT) -> int:
    """Return ``value`` as an int, requiring ``minimum <= value <= maximum`` (by default the
    int64 range the native kernels take)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def real(name: str, value: Any) -> float:
    """Return ``value`` as a finite float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def frame_bounds(
    max_frames: Any, duration: Any, min_frames: int = 1
) -> tuple[int | None, float | None]:
    """Check the bounds of a read: ``max_frames`` (None or an int >= ``min_frames``) and
    ``duration`` (None or seconds > 0); returns them as (int | None, float | None)."""
    if max_frames is not None:
        max_frames = integer("max_frames", max_frames, min_frames)
    if duration is not None:
        duration = real("duration", duration)
        if not duration > 0:
            raise ValueError(f"duration must be > 0 seconds, got {duration}")
    return max_frames, duration


def coupling(z: Any, k: int) -> float:
    """Resolve the walk coupling ``z`` (None -> 1/(2K)); require 0 < z < 1/K (Eq. 4 converges)."""
    if z is None:
        return 1.0 / (2.0 * k)
    z = real("z", z)
    if not 0.0 < z < 1.0 / k:
        raise ValueError(
            f"z must lie in (0, 1/k) = (0, {1.0 / k:g}) for the series to converge, got {z}"
        )
    return z
