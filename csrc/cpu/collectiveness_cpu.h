// Collectiveness of a ragged batch of frames (CPU): W (Eq. 1), phi (Eq. 5), links, collective
// merging. Spec: pympas/reference.py::collectiveness_batch.
#pragma once
#include <cstdint>
#include <vector>

namespace pympas::cpu {

struct CollectivenessOut {
  std::vector<double> phi;        // (N,)
  std::vector<int64_t> edges;     // (E, 2) row-major, global indices, sorted by (i, j)
  std::vector<int64_t> clusters;  // (N,), labels unique across the batch, 0 = outlier
};

CollectivenessOut collectiveness(const double* points, const double* velocities,
                                 const int64_t* offsets, int64_t num_frames, int64_t k, double z,
                                 bool clamp_negative, int64_t min_cluster_size);

// phi alone by a sparse iterative solve of (I - zW) x = 1 per frame.
void individual_collectiveness(const double* points, const double* velocities,
                               const int64_t* offsets, int64_t num_frames, int64_t k, double z,
                               bool clamp_negative, double* phi);

}  // namespace pympas::cpu
