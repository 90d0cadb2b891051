// pybind11 bindings of the CPU kernels: pympas._native. The public wrappers in pympas/*.py
// validate and convert the arguments; the checks here are cheap guards that raise ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <string>

#include "cpu/collectiveness_cpu.h"
#include "cpu/knn_cpu.h"
#include "cpu/rasterize_cpu.h"

#ifdef PYMPAS_OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

namespace {

using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;
using I64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

void require(bool ok, const std::string& message) {
  if (!ok) throw py::value_error(message);
}

int64_t check_points(const char* name, const F64& a) {
  require(a.ndim() == 2 && a.shape(1) == 2, std::string(name) + " must have shape (N, 2)");
  return a.shape(0);
}

// Returns the number of frames F of offsets (F+1,) covering n rows.
int64_t check_offsets(const I64& offsets, int64_t n) {
  require(offsets.ndim() == 1 && offsets.shape(0) >= 1, "offsets must have shape (F+1,)");
  const int64_t* o = offsets.data();
  const int64_t f = offsets.shape(0) - 1;
  require(o[0] == 0, "offsets must start at 0");
  for (int64_t i = 0; i < f; ++i) require(o[i + 1] >= o[i], "offsets must be non-decreasing");
  require(o[f] == n, "offsets must end at the number of points N");
  return f;
}

void check_collectiveness_args(int64_t k, double z, int64_t min_cluster_size) {
  require(k >= 1, "k must be >= 1");
  require(z > 0.0 && z * static_cast<double>(k) < 1.0, "z must lie in (0, 1/k)");
  require(min_cluster_size >= 1, "min_cluster_size must be >= 1");
}

py::tuple knn_correlation(const F64& points, const F64& velocities, const I64& offsets, int64_t k) {
  const int64_t n = check_points("points", points);
  require(check_points("velocities", velocities) == n,
          "velocities must have as many rows as points");
  const int64_t f = check_offsets(offsets, n);
  require(k >= 1, "k must be >= 1");
  I64 neighbors({n, k});
  F64 corr({n, k});
  {
    py::gil_scoped_release release;
    pympas::cpu::knn_correlation(points.data(), velocities.data(), offsets.data(), f, k,
                                 neighbors.mutable_data(), corr.mutable_data());
  }
  return py::make_tuple(neighbors, corr);
}

py::tuple collectiveness(const F64& points, const F64& velocities, const I64& offsets, int64_t k,
                         double z, bool clamp_negative, int64_t min_cluster_size) {
  const int64_t n = check_points("points", points);
  require(check_points("velocities", velocities) == n,
          "velocities must have as many rows as points");
  const int64_t f = check_offsets(offsets, n);
  check_collectiveness_args(k, z, min_cluster_size);
  pympas::cpu::CollectivenessOut out;
  {
    py::gil_scoped_release release;
    out = pympas::cpu::collectiveness(points.data(), velocities.data(), offsets.data(), f, k, z,
                                      clamp_negative, min_cluster_size);
  }
  const int64_t e = static_cast<int64_t>(out.edges.size()) / 2;
  F64 phi(n);
  I64 edges({e, int64_t{2}});
  I64 clusters(n);
  std::memcpy(phi.mutable_data(), out.phi.data(), sizeof(double) * n);
  std::memcpy(edges.mutable_data(), out.edges.data(), sizeof(int64_t) * 2 * e);
  std::memcpy(clusters.mutable_data(), out.clusters.data(), sizeof(int64_t) * n);
  return py::make_tuple(phi, edges, clusters);
}

F64 individual_collectiveness(const F64& points, const F64& velocities, const I64& offsets,
                              int64_t k, double z, bool clamp_negative) {
  const int64_t n = check_points("points", points);
  require(check_points("velocities", velocities) == n,
          "velocities must have as many rows as points");
  const int64_t f = check_offsets(offsets, n);
  check_collectiveness_args(k, z, 1);
  F64 phi(n);
  {
    py::gil_scoped_release release;
    pympas::cpu::individual_collectiveness(points.data(), velocities.data(), offsets.data(), f, k,
                                           z, clamp_negative, phi.mutable_data());
  }
  return phi;
}

py::array_t<bool> rasterize_circles(const F64& centers, const I64& offsets, int64_t height,
                                    int64_t width, double radius) {
  const int64_t n = check_points("centers", centers);
  const int64_t f = check_offsets(offsets, n);
  require(height >= 1, "height must be >= 1");
  require(width >= 1, "width must be >= 1");
  require(radius >= 0.0, "radius must be >= 0");
  py::array_t<bool> masks({f, height, width});
  static_assert(sizeof(bool) == 1, "numpy bool masks are written as bytes");
  auto* out = reinterpret_cast<uint8_t*>(masks.mutable_data());
  {
    py::gil_scoped_release release;
    std::memset(out, 0, static_cast<size_t>(f * height * width));
    pympas::cpu::rasterize_circles(centers.data(), offsets.data(), f, height, width, radius, out);
  }
  return masks;
}

int openmp_threads() {
#ifdef PYMPAS_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace

PYBIND11_MODULE(_native, m) {
  m.doc() = "pympas native CPU kernels: KNN velocity correlation, collectiveness, CRM masks";
  m.def("knn_correlation", &knn_correlation, py::arg("points"), py::arg("velocities"),
        py::arg("offsets"), py::arg("k"),
        "(neighbors (N, K) int64, corr (N, K) float64) per frame; -1 / 0 padding");
  m.def("collectiveness", &collectiveness, py::arg("points"), py::arg("velocities"),
        py::arg("offsets"), py::arg("k"), py::arg("z"), py::arg("clamp_negative"),
        py::arg("min_cluster_size"), "(phi (N,), edges (E, 2) int64, clusters (N,) int64)");
  m.def(
      "link_threshold",
      [](int64_t k, double z) {
        check_collectiveness_args(k, z, 1);
        return pympas::cpu::link_threshold(k, z);
      },
      py::arg("k"), py::arg("z"), "0.6 kappa, kappa = z / (1 - zK): the link threshold on Z");
  m.def("individual_collectiveness", &individual_collectiveness, py::arg("points"),
        py::arg("velocities"), py::arg("offsets"), py::arg("k"), py::arg("z"),
        py::arg("clamp_negative"), "phi (N,) by a sparse iterative solve");
  m.def("rasterize_circles", &rasterize_circles, py::arg("centers"), py::arg("offsets"),
        py::arg("height"), py::arg("width"), py::arg("radius"), "(F, H, W) bool CRM masks");
  m.def("openmp_threads", &openmp_threads, "OpenMP threads the kernels use (1 without OpenMP)");
}
