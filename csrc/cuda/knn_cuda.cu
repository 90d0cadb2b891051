// Batched K-nearest-neighbour velocity correlation on the GPU (the C(i, j) of Eq. 1).
// Spec: pympas/reference.py::knn_correlation; CPU twin: csrc/cpu/knn_cpu.cpp.
//
// One thread per particle scans every other particle of its frame in increasing index order and
// keeps the `take` best (squared distance, index) pairs in a sorted list. Scanning in index order
// makes ties resolve to the lower index with a strict comparison, exactly like the reference's
// stable sort. Threads of a warp read the same candidate at the same time (one broadcast load).
// Exactness: dx * dx + dy * dy and the cosine are evaluated with explicitly rounded operations
// (__dmul_rn / __dadd_rn, never contracted to FMA) in the same order as the CPU, so neighbour
// lists and correlations agree bit for bit.
#include <cfloat>

#include "cuda/common_cuda.cuh"
#include "cuda/kernels_cuda.h"

namespace pympas::cuda {
namespace {

constexpr int kThreads = 128;

// Frame of global row i: the largest f with offsets[f] <= i (skips empty frames).
__device__ int64_t frame_of(const int64_t* offsets, int64_t num_frames, int64_t i) {
  int64_t lo = 0, hi = num_frames - 1;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo + 1) / 2;
    if (offsets[mid] <= i) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// Velocity divided by its norm, the norm clamped below at machine epsilon (reference:
// unit_velocities).
__device__ void unit_velocity(const double* v, int64_t i, double* ux, double* uy) {
  const double vx = v[2 * i], vy = v[2 * i + 1];
  const double norm =
      fmax(__dsqrt_rn(__dadd_rn(__dmul_rn(vx, vx), __dmul_rn(vy, vy))), DBL_EPSILON);
  *ux = __ddiv_rn(vx, norm);
  *uy = __ddiv_rn(vy, norm);
}

__global__ void __launch_bounds__(kThreads)
    knn_correlation_kernel(const double* __restrict__ points, const double* __restrict__ velocities,
                           const int64_t* __restrict__ offsets, int64_t num_frames, int64_t n,
                           int k, int64_t* __restrict__ neighbors, double* __restrict__ corr) {
  double best_d2[kMaxK];
  int64_t best_j[kMaxK];
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t f = frame_of(offsets, num_frames, i);
    const int64_t lo = offsets[f], hi = offsets[f + 1];
    const int64_t others = hi - lo - 1;
    const int take = others < k ? static_cast<int>(others) : k;
    const double x = points[2 * i], y = points[2 * i + 1];
    int count = 0;
    for (int64_t j = lo; take > 0 && j < hi; ++j) {
      if (j == i) continue;
      const double dx = __dadd_rn(points[2 * j], -x);
      const double dy = __dadd_rn(points[2 * j + 1], -y);
      const double d2 = __dadd_rn(__dmul_rn(dx, dx), __dmul_rn(dy, dy));
      int pos;
      if (count < take) {
        pos = count++;
      } else if (d2 < best_d2[take - 1]) {  // equal d2: the kept one has the lower index
        pos = take - 1;
      } else {
        continue;
      }
      while (pos > 0 && best_d2[pos - 1] > d2) {
        best_d2[pos] = best_d2[pos - 1];
        best_j[pos] = best_j[pos - 1];
        --pos;
      }
      best_d2[pos] = d2;
      best_j[pos] = j;
    }
    double ux, uy;
    unit_velocity(velocities, i, &ux, &uy);
    int64_t* nrow = neighbors + i * k;
    double* crow = corr + i * k;
    for (int m = 0; m < take; ++m) {
      const int64_t j = best_j[m];
      double vx, vy;
      unit_velocity(velocities, j, &vx, &vy);
      nrow[m] = j;
      crow[m] = __dadd_rn(__dmul_rn(ux, vx), __dmul_rn(uy, vy));
    }
    for (int m = take; m < k; ++m) {
      nrow[m] = -1;
      crow[m] = 0.0;
    }
  }
}

}  // namespace

void knn_correlation(uintptr_t points, uintptr_t velocities, uintptr_t offsets, int64_t num_frames,
                     int64_t n, int64_t k, uintptr_t neighbors, uintptr_t corr, int device,
                     uintptr_t stream) {
  if (k < 1 || k > kMaxK) {
    throw std::invalid_argument("k must lie in [1, " + std::to_string(kMaxK) + "] on CUDA");
  }
  if (n < 0 || num_frames < 0) throw std::invalid_argument("n and num_frames must be >= 0");
  if (n == 0) return;
  if (num_frames == 0) throw std::invalid_argument("points without frames (offsets must end at n)");
  detail::DeviceGuard guard(device);
  knn_correlation_kernel<<<detail::blocks_for(n, kThreads), kThreads, 0,
                           detail::as_stream(stream)>>>(
      reinterpret_cast<const double*>(points), reinterpret_cast<const double*>(velocities),
      reinterpret_cast<const int64_t*>(offsets), num_frames, n, static_cast<int>(k),
      reinterpret_cast<int64_t*>(neighbors), reinterpret_cast<double*>(corr));
  detail::check(cudaGetLastError(), "knn_correlation kernel launch");
}

}  // namespace pympas::cuda
