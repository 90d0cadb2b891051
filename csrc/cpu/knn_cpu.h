// Batched K-nearest-neighbour velocity correlation (CPU). Spec: pympas/reference.py.
#pragma once
#include <cstdint>

namespace pympas::cpu {

// points, velocities: (N, 2) row-major; offsets: (F+1,) frame f = rows [offsets[f], offsets[f+1]).
// Writes neighbors (N, K) global row indices (-1 padding) and corr (N, K) (0 where padded).
// Never self; ties in distance go to the lower index; velocity norms clamped below at epsilon.
void knn_correlation(const double* points, const double* velocities, const int64_t* offsets,
                     int64_t num_frames, int64_t k, int64_t* neighbors, double* corr);

}  // namespace pympas::cpu
