// Individual collectiveness phi (Eq. 5) on the GPU by Jacobi sweeps on the KNN graph.
// Spec: pympas/reference.py::collectiveness_frame (phi); CPU twin:
// csrc/cpu/collectiveness_cpu.cpp::individual_collectiveness.
//
// phi = Z 1 with Z = (I - zW)^-1 - I (Eqs. 3-5) solves phi = z W (1 + phi). Starting from
// phi = 0, each sweep phi <- z W (1 + phi) adds one more term of the Neumann series (Eq. 4).
// W (Eq. 1) is read straight from the (N, K) neighbour/correlation arrays, an ELL sparse layout
// with -1 padding; frames are independent blocks of it, so the sweeps need no frame bookkeeping.
// The number of sweeps is chosen by the caller (pympas/_cuda_dispatch.py) from the contraction
// bound ||zW||_inf <= zK; no convergence flag travels back to the host.
#include "cuda/common_cuda.cuh"
#include "cuda/kernels_cuda.h"

namespace pympas::cuda {
namespace {

constexpr int kThreads = 256;

// out[i] = z * sum_m W[i, m] * (1 + in[j_m]), W[i, m] = max(corr, 0) or corr (Eq. 1).
__global__ void __launch_bounds__(kThreads)
    jacobi_sweep_kernel(const int64_t* __restrict__ neighbors, const double* __restrict__ corr,
                        int64_t n, int k, double z, bool clamp_negative,
                        const double* __restrict__ in, double* __restrict__ out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double sum = 0.0;
    for (int m = 0; m < k; ++m) {
      const int64_t j = neighbors[i * k + m];
      if (j < 0) continue;
      double w = corr[i * k + m];
      if (clamp_negative && w < 0.0) w = 0.0;
      const double x = in == nullptr ? 1.0 : 1.0 + in[j];
      sum = fma(w, x, sum);
    }
    out[i] = z * sum;
  }
}

}  // namespace

void individual_collectiveness(uintptr_t neighbors, uintptr_t corr, int64_t n, int64_t k, double z,
                               bool clamp_negative, int64_t iterations, uintptr_t phi,
                               uintptr_t work, int device, uintptr_t stream) {
  if (k < 1) throw std::invalid_argument("k must be >= 1");
  if (n < 0) throw std::invalid_argument("n must be >= 0");
  if (iterations < 1) throw std::invalid_argument("iterations must be >= 1");
  if (n == 0) return;
  detail::DeviceGuard guard(device);
  const cudaStream_t s = detail::as_stream(stream);
  const auto* nbr = reinterpret_cast<const int64_t*>(neighbors);
  const auto* c = reinterpret_cast<const double*>(corr);
  // Ping-pong between phi and work so that the last sweep writes phi.
  double* buf[2] = {reinterpret_cast<double*>(phi), reinterpret_cast<double*>(work)};
  int target = static_cast<int>((iterations - 1) % 2);  // buffer written by the first sweep
  const unsigned int blocks = detail::blocks_for(n, kThreads);
  const double* in = nullptr;  // phi = 0 before the first sweep
  for (int64_t t = 0; t < iterations; ++t) {
    double* out = buf[target];
    jacobi_sweep_kernel<<<blocks, kThreads, 0, s>>>(nbr, c, n, static_cast<int>(k), z,
                                                    clamp_negative, in, out);
    detail::check(cudaGetLastError(), "collectiveness sweep kernel launch");
    in = out;
    target ^= 1;
  }
}

}  // namespace pympas::cuda
