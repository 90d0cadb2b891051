// CUDA kernels of pympas (host-side entry points). Same semantics as csrc/cpu/*.h and the spec
// pympas/reference.py. Every pointer is a device pointer owned by the caller (e.g. a torch
// tensor's data_ptr()), passed as an integer; `stream` is the caller's cudaStream_t (0 = legacy
// default stream); `device` is the CUDA device index the memory and the stream live on. The
// functions enqueue work on `stream` and return without synchronising; a launch error throws
// std::runtime_error. No data goes through the host. This header has no CUDA dependency, so the
// pybind11 module compiles with the host compiler alone.
#pragma once
#include <cstdint>
#include <string>

namespace pympas::cuda {

// Number of visible CUDA devices; 0 when there is no driver or no device (never throws).
int device_count();

// Why device_count() is 0 (the CUDA error string), or "" when devices are present.
std::string driver_status();

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;
  int multiprocessors = 0;
  int64_t total_memory = 0;       // bytes
  double memory_bandwidth = 0.0;  // theoretical peak, bytes / s (2 x clock x bus width)
};
DeviceInfo device_info(int device);

// Batched KNN velocity correlation (csrc/cpu/knn_cpu.h): points, velocities (N, 2) float64,
// offsets (F+1,) int64 -> neighbors (N, K) int64 (-1 padding), corr (N, K) float64.
// 1 <= k <= kMaxK.
constexpr int64_t kMaxK = 64;
void knn_correlation(uintptr_t points, uintptr_t velocities, uintptr_t offsets, int64_t num_frames,
                     int64_t n, int64_t k, uintptr_t neighbors, uintptr_t corr, int device,
                     uintptr_t stream);

// phi (N,) float64 (Eq. 5) from the KNN graph (neighbors, corr: (N, K)) by `iterations` Jacobi
// (Neumann series) sweeps phi <- z W (1 + phi) from phi = 0; `work` is (N,) float64 scratch.
void individual_collectiveness(uintptr_t neighbors, uintptr_t corr, int64_t n, int64_t k, double z,
                               bool clamp_negative, int64_t iterations, uintptr_t phi,
                               uintptr_t work, int device, uintptr_t stream);

// Circle rasterization (csrc/cpu/rasterize_cpu.h): centers (N, 2) float64, offsets (F+1,) int64
// -> masks (F, H, W) of bytes, every byte written (0 or 1), so `masks` need not be zeroed.
void rasterize_circles(uintptr_t centers, uintptr_t offsets, int64_t num_frames, int64_t height,
                       int64_t width, double radius, uintptr_t masks, int device, uintptr_t stream);

}  // namespace pympas::cuda
