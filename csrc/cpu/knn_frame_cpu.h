// Internal: K nearest neighbours of the particles of one frame (frame-local indices), shared by
// knn_cpu.cpp and collectiveness_cpu.cpp. Conventions as pympas/reference.py::knn_correlation.
#pragma once
#include <cstdint>

namespace pympas::cpu::detail {

// points: (m, 2) row-major positions of one frame. Writes nbr (m, take) frame-local neighbour
// indices, take = min(k, m - 1) (nothing when m <= 1), each row sorted by (squared distance,
// index): never self, ties go to the lower index. `parallel` spreads the queries over OpenMP
// threads (use it only outside another parallel region); the result does not depend on it.
void knn_frame(const double* points, int64_t m, int64_t k, int64_t* nbr, bool parallel);

// Number of neighbours each particle of an m-particle frame gets: min(k, m - 1), 0 if m <= 1.
inline int64_t knn_take(int64_t m, int64_t k) { return m <= 1 ? 0 : (k < m - 1 ? k : m - 1); }

// Unit velocity of one particle: v / max(|v|, machine epsilon).
void unit_velocity(const double* v, double* ux, double* uy);

// Whether the calling thread should parallelise inside frames: true when there are fewer frames
// than OpenMP threads and we are not already inside a parallel region.
bool parallelise_inside_frames(int64_t num_frames);

}  // namespace pympas::cpu::detail
