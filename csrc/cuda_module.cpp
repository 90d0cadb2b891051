// pybind11 bindings of pympas._cuda. Pointers and streams travel as Python ints (e.g.
// tensor.data_ptr(), torch.cuda.current_stream().cuda_stream); the kernels enqueue on that stream
// and return at once. Argument checks on shapes and values happen in pympas/_cuda_dispatch.py;
// here only what keeps the kernels memory-safe is re-checked. Linked against the static CUDA
// runtime: importing this module needs no driver.
#include <pybind11/pybind11.h>

#include "cuda/kernels_cuda.h"

namespace py = pybind11;
namespace pc = pympas::cuda;

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "pympas CUDA kernels on caller-owned device memory (see pympas/_cuda_dispatch.py)";
  m.attr("MAX_K") = pc::kMaxK;

  m.def("device_count", &pc::device_count,
        "Number of CUDA devices visible to the CUDA runtime; 0 without a driver or device.");
  m.def("driver_status", &pc::driver_status,
        "Why device_count() is 0 (CUDA error text), or '' when devices are present.");
  m.def(
      "device_info",
      [](int device) {
        const pc::DeviceInfo info = pc::device_info(device);
        py::dict d;
        d["name"] = info.name;
        d["compute_capability"] = py::make_tuple(info.major, info.minor);
        d["multiprocessors"] = info.multiprocessors;
        d["total_memory"] = info.total_memory;
        d["memory_bandwidth"] = info.memory_bandwidth;
        return d;
      },
      py::arg("device"),
      "Name, compute capability, SM count, memory size (bytes) and theoretical peak memory "
      "bandwidth (bytes/s) of a device.");

  m.def(
      "knn_correlation",
      [](uintptr_t points, uintptr_t velocities, uintptr_t offsets, int64_t num_frames, int64_t n,
         int64_t k, uintptr_t neighbors, uintptr_t corr, int device, uintptr_t stream) {
        py::gil_scoped_release release;
        pc::knn_correlation(points, velocities, offsets, num_frames, n, k, neighbors, corr, device,
                            stream);
      },
      py::arg("points"), py::arg("velocities"), py::arg("offsets"), py::arg("num_frames"),
      py::arg("n"), py::arg("k"), py::arg("neighbors"), py::arg("corr"), py::arg("device"),
      py::arg("stream"),
      "Batched KNN velocity correlation: points, velocities (N, 2) float64, offsets (F+1,) int64 "
      "-> neighbors (N, K) int64, corr (N, K) float64 (all device pointers).");

  m.def(
      "individual_collectiveness",
      [](uintptr_t neighbors, uintptr_t corr, int64_t n, int64_t k, double z, bool clamp_negative,
         int64_t iterations, uintptr_t phi, uintptr_t work, int device, uintptr_t stream) {
        py::gil_scoped_release release;
        pc::individual_collectiveness(neighbors, corr, n, k, z, clamp_negative, iterations, phi,
                                      work, device, stream);
      },
      py::arg("neighbors"), py::arg("corr"), py::arg("n"), py::arg("k"), py::arg("z"),
      py::arg("clamp_negative"), py::arg("iterations"), py::arg("phi"), py::arg("work"),
      py::arg("device"), py::arg("stream"),
      "phi (N,) float64 (Eq. 5) by `iterations` Jacobi sweeps on the KNN graph; work: (N,) "
      "float64 scratch (device pointers).");

  m.def(
      "rasterize_circles",
      [](uintptr_t centers, uintptr_t offsets, int64_t num_frames, int64_t height, int64_t width,
         double radius, uintptr_t masks, int device, uintptr_t stream) {
        py::gil_scoped_release release;
        pc::rasterize_circles(centers, offsets, num_frames, height, width, radius, masks, device,
                              stream);
      },
      py::arg("centers"), py::arg("offsets"), py::arg("num_frames"), py::arg("height"),
      py::arg("width"), py::arg("radius"), py::arg("masks"), py::arg("device"), py::arg("stream"),
      "CRM masks: centers (N, 2) float64, offsets (F+1,) int64 -> masks (F, H, W) bytes, every "
      "byte written with 0 or 1 (device pointers).");
}
