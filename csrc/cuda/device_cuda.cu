// Device queries of pympas._cuda (no kernels).
#include "cuda/common_cuda.cuh"
#include "cuda/kernels_cuda.h"

namespace pympas::cuda {

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // reset the last-error state of the runtime
    return 0;
  }
  return count;
}

std::string driver_status() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
  }
  return count > 0 ? "" : "no CUDA device";
}

DeviceInfo device_info(int device) {
  detail::DeviceGuard guard(device);
  cudaDeviceProp prop;
  detail::check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  int clock_khz = 0, bus_bits = 0;
  detail::check(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device),
                "cudaDeviceGetAttribute(MemoryClockRate)");
  detail::check(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device),
                "cudaDeviceGetAttribute(GlobalMemoryBusWidth)");
  DeviceInfo info;
  info.name = prop.name;
  info.major = prop.major;
  info.minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.total_memory = static_cast<int64_t>(prop.totalGlobalMem);
  // Double data rate: two transfers per memory clock over the whole bus.
  info.memory_bandwidth = 2.0 * static_cast<double>(clock_khz) * 1e3 * bus_bits / 8.0;
  return info;
}

}  // namespace pympas::cuda
