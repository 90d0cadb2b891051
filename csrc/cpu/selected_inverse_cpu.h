// Exact link decisions Z[i, j] > threshold for Z = (I - zW)^-1 - I of one frame, without a dense
// inverse: sparse LDU factorisation of A = I - zW under a fill-reducing ordering, then the
// selected inverse of A on the filled pattern (which contains the pattern of W).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace pympas::cpu {

// W of one frame in CSR: row i holds columns cols[row_ptr[i] .. row_ptr[i+1]) (frame-local,
// distinct, never i) with values vals. n may be 0.
struct FrameCsr {
  int64_t n = 0;
  const int64_t* row_ptr = nullptr;
  const int64_t* cols = nullptr;
  const double* vals = nullptr;
};

// phi (n,) = Z 1 (Eq. 5) and every link (i, j), i != j, with Z[i, j] > threshold, appended to
// `links` sorted by (i, j) (frame-local indices). `k` is the K of the KNN graph (row sums of |W|
// are at most K): when zK < 0.6 only W's pattern can link. The candidate set is decided from W's
// actual bounds (max |zW| rho / (1 - rho) against the threshold, rho = |zW|_inf <= zK), which
// are never looser; otherwise every pair is tested from whole columns of the inverse. Requires
// I - zW strictly row diagonally dominant (rho < 1); throws std::domain_error if a pivot
// vanishes. Thread-safe (no shared state); phi must hold n doubles.
void path_similarity_links(const FrameCsr& w, double z, int64_t k, double threshold, double* phi,
                           std::vector<std::pair<int64_t, int64_t>>* links);

}  // namespace pympas::cpu
