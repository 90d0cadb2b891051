// Collectiveness of a ragged batch of frames (CPU): W (Eq. 1), phi (Eq. 5), links, collective
// merging. Spec: pympas/reference.py::collectiveness_batch.
#pragma once
#include <cstdint>
#include <vector>

namespace pympas::cpu {

// The link threshold 0.6 kappa, kappa = z / (1 - zK) bounding every entry of Z (MPASNet Sec. 2.2,
// after Zhou et al.): pairs with Z[i, j] above it are linked. The one definition in pympas;
// Python's pympas.link_threshold calls it.
inline double link_threshold(int64_t k, double z) {
  return 0.6 * z / (1.0 - z * static_cast<double>(k));
}

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
