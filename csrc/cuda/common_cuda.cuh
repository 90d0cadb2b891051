// Shared helpers of the CUDA kernels: error checks and the device guard.
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace pympas::cuda::detail {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("pympas._cuda: ") + what + ": " + cudaGetErrorName(err) +
                             " (" + cudaGetErrorString(err) + ")");
  }
}

// Makes `device` current for the lifetime of the guard (kernels launch into its primary
// context, where PyTorch's streams live) and restores the previous device afterwards.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    int count = 0;
    check(cudaGetDeviceCount(&count), "no usable CUDA device");
    if (device < 0 || device >= count) {
      throw std::runtime_error("pympas._cuda: device " + std::to_string(device) +
                               " does not exist (" + std::to_string(count) + " CUDA devices)");
    }
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    check(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() {
    int current = -1;
    if (cudaGetDevice(&current) == cudaSuccess && current != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

inline cudaStream_t as_stream(uintptr_t stream) { return reinterpret_cast<cudaStream_t>(stream); }

// Blocks for a 1-D grid over `count` items, capped to the grid limit (kernels use grid-stride
// loops).
inline unsigned int blocks_for(int64_t count, int threads) {
  int64_t blocks = (count + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > 1048576) blocks = 1048576;
  return static_cast<unsigned int>(blocks);
}

}  // namespace pympas::cuda::detail
