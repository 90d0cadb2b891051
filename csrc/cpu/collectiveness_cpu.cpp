// Collectiveness of a ragged batch of frames: W (Eq. 1) in CSR from the KNN graph, phi (Eq. 5)
// by a certified sparse solve, the link graph Z[i, j] > 0.6 kappa (selected_inverse_cpu.cpp) and
// collective merging (connected components). Spec: pympas/reference.py::collectiveness_batch.
#include "cpu/collectiveness_cpu.h"

#include <Eigen/SparseCore>
#include <Eigen/SparseLU>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "cpu/knn_frame_cpu.h"
#include "cpu/selected_inverse_cpu.h"

namespace pympas::cpu {
namespace {

// W of one frame: every row holds its `take` KNN entries (possibly zero-valued).
struct FrameW {
  int64_t n = 0;
  std::vector<int64_t> row_ptr, cols;
  std::vector<double> vals;
  FrameCsr csr() const { return FrameCsr{n, row_ptr.data(), cols.data(), vals.data()}; }
};

// Eq. 1: W[i, j] = max(C(i, j), 0) (or C(i, j) without clamping) for j among i's K neighbours.
FrameW build_w(const double* points, const double* velocities, int64_t n, int64_t k,
               bool clamp_negative, bool parallel) {
  FrameW w;
  w.n = n;
  const int64_t take = detail::knn_take(n, k);
  w.cols.resize(n * take);
  detail::knn_frame(points, n, k, w.cols.data(), parallel);
  std::vector<double> u(2 * n);
  for (int64_t i = 0; i < n; ++i)
    detail::unit_velocity(velocities + 2 * i, &u[2 * i], &u[2 * i + 1]);
  w.vals.resize(n * take);
  w.row_ptr.resize(n + 1);
  for (int64_t i = 0; i <= n; ++i) w.row_ptr[i] = i * take;
  for (int64_t e = 0; e < n * take; ++e) {
    const int64_t i = e / take, j = w.cols[e];
    const double c = u[2 * i] * u[2 * j] + u[2 * i + 1] * u[2 * j + 1];
    w.vals[e] = clamp_negative ? std::max(c, 0.0) : c;
  }
  return w;
}

// At most this many Neumann iterations; beyond (zK close to 1) phi is solved directly.
constexpr int kMaxNeumannTerms = 600;
// Certified bound on the error of phi, relative to max(1, max |phi|).
constexpr double kPhiTolerance = 1e-15;

// phi = Z 1 = sum_{L>=1} (zW)^L 1 (Eqs. 4-5) for one frame.
//
// Neumann iteration phi <- b + zW phi with b = zW 1, a contraction in the max norm with
// constant rho = z max_i sum_j |W[i, j]| <= zK < 1. It stops once the error is certified below
// the tolerance by either bound: a priori, after the iterate holding the terms L = 1..t, the
// remainder is at most rho^(t+1) / (1 - rho); a posteriori, |phi* - phi_t| <= rho / (1 - rho)
// |phi_t - phi_(t-1)| (Banach), which is much tighter when the walks decay faster than rho.
// If neither holds within kMaxNeumannTerms, (I - zW) phi = b is solved by sparse LU instead.
void frame_phi(const FrameW& w, double z, double* phi, bool parallel) {
  const int64_t n = w.n;
  if (n == 0) return;
  std::vector<double> b(n);
  double rho = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double s = 0.0, a = 0.0;
    for (int64_t e = w.row_ptr[i]; e < w.row_ptr[i + 1]; ++e) {
      s += w.vals[e];
      a += std::fabs(w.vals[e]);
    }
    b[i] = z * s;
    rho = std::max(rho, z * a);
  }
  if (rho == 0.0) {
    std::fill(phi, phi + n, 0.0);
    return;
  }
  rho *= 1.0 + 1e-12;  // round the bound up
  if (rho < 1.0) {
    std::vector<double> cur(b), next(n);
    double tail = rho * rho;  // rho^(t+1) bounds the first omitted term; cur holds t terms
    for (int t = 1; t <= kMaxNeumannTerms; ++t) {
      double delta = 0.0, top = 0.0;
#pragma omp parallel for schedule(static) reduction(max : delta, top) if (parallel)
      for (int64_t i = 0; i < n; ++i) {
        double s = 0.0;
        for (int64_t e = w.row_ptr[i]; e < w.row_ptr[i + 1]; ++e) s += w.vals[e] * cur[w.cols[e]];
        next[i] = b[i] + z * s;
        delta = std::max(delta, std::fabs(next[i] - cur[i]));
        top = std::max(top, std::fabs(next[i]));
      }
      cur.swap(next);
      tail *= rho;
      const double tol = kPhiTolerance * std::max(1.0, top);
      if (tail / (1.0 - rho) <= tol || rho / (1.0 - rho) * delta <= tol) {
        std::copy(cur.begin(), cur.end(), phi);
        return;
      }
    }
  }
  using Sparse = Eigen::SparseMatrix<double, Eigen::ColMajor, int>;
  std::vector<Eigen::Triplet<double, int>> trip;
  trip.reserve(w.cols.size() + n);
  for (int64_t i = 0; i < n; ++i) {
    trip.emplace_back(static_cast<int>(i), static_cast<int>(i), 1.0);
    for (int64_t e = w.row_ptr[i]; e < w.row_ptr[i + 1]; ++e) {
      trip.emplace_back(static_cast<int>(i), static_cast<int>(w.cols[e]), -z * w.vals[e]);
    }
  }
  Sparse a(static_cast<int>(n), static_cast<int>(n));
  a.setFromTriplets(trip.begin(), trip.end());
  Eigen::SparseLU<Sparse, Eigen::COLAMDOrdering<int>> lu;
  lu.compute(a);
  const Eigen::Map<const Eigen::VectorXd> rhs(b.data(), n);
  Eigen::VectorXd x = lu.solve(rhs);
  for (int refine = 0; refine < 2; ++refine) x += lu.solve(rhs - a * x);  // iterative refinement
  std::copy(x.data(), x.data() + n, phi);
}

// Collective merging: connected components of the link graph (either direction), numbered
// 1..C by their smallest member; components smaller than min_size get 0. Returns C.
int64_t collective_merging(int64_t n, const std::vector<std::pair<int64_t, int64_t>>& links,
                           int64_t min_size, int64_t* labels) {
  std::vector<int64_t> parent(n);
  std::iota(parent.begin(), parent.end(), int64_t{0});
  auto find = [&parent](int64_t a) {
    while (parent[a] != a) {
      parent[a] = parent[parent[a]];
      a = parent[a];
    }
    return a;
  };
  for (const auto& [i, j] : links) {
    const int64_t a = find(i), b = find(j);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);  // root = smallest member
  }
  std::vector<int64_t> size(n, 0);
  for (int64_t i = 0; i < n; ++i) ++size[find(i)];
  std::vector<int64_t> label_of_root(n, 0);
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = find(i);
    if (size[r] < min_size) {
      labels[i] = 0;
      continue;
    }
    if (label_of_root[r] == 0) label_of_root[r] = ++count;
    labels[i] = label_of_root[r];
  }
  return count;
}

}  // namespace

void individual_collectiveness(const double* points, const double* velocities,
                               const int64_t* offsets, int64_t num_frames, int64_t k, double z,
                               bool clamp_negative, double* phi) {
  const bool inner = detail::parallelise_inside_frames(num_frames);
#pragma omp parallel for schedule(dynamic, 1) if (!inner)
  for (int64_t f = 0; f < num_frames; ++f) {
    const int64_t lo = offsets[f], n = offsets[f + 1] - offsets[f];
    const FrameW w = build_w(points + 2 * lo, velocities + 2 * lo, n, k, clamp_negative, inner);
    frame_phi(w, z, phi + lo, inner);
  }
}

CollectivenessOut collectiveness(const double* points, const double* velocities,
                                 const int64_t* offsets, int64_t num_frames, int64_t k, double z,
                                 bool clamp_negative, int64_t min_cluster_size) {
  const int64_t n_total = offsets[num_frames];
  CollectivenessOut out;
  out.phi.assign(n_total, 0.0);
  out.clusters.assign(n_total, 0);
  const double threshold = link_threshold(k, z);
  std::vector<std::vector<std::pair<int64_t, int64_t>>> links(num_frames);
  std::vector<int64_t> num_clusters(num_frames, 0);
  const bool inner = detail::parallelise_inside_frames(num_frames);
#pragma omp parallel for schedule(dynamic, 1) if (!inner)
  for (int64_t f = 0; f < num_frames; ++f) {
    const int64_t lo = offsets[f], n = offsets[f + 1] - offsets[f];
    const FrameW w = build_w(points + 2 * lo, velocities + 2 * lo, n, k, clamp_negative, inner);
    path_similarity_links(w.csr(), z, k, threshold, out.phi.data() + lo, &links[f]);
    if (!std::is_sorted(links[f].begin(), links[f].end()))
      std::sort(links[f].begin(), links[f].end());
    num_clusters[f] = collective_merging(n, links[f], min_cluster_size, out.clusters.data() + lo);
  }
  // Number the clusters of frame f after those of frames 0..f-1; edges to global indices.
  int64_t base = 0, num_edges = 0;
  for (int64_t f = 0; f < num_frames; ++f) {
    const int64_t lo = offsets[f], hi = offsets[f + 1];
    if (base > 0) {
      for (int64_t i = lo; i < hi; ++i) {
        if (out.clusters[i] > 0) out.clusters[i] += base;
      }
    }
    base += num_clusters[f];
    num_edges += static_cast<int64_t>(links[f].size());
  }
  out.edges.reserve(2 * num_edges);
  for (int64_t f = 0; f < num_frames; ++f) {
    for (const auto& [i, j] : links[f]) {
      out.edges.push_back(offsets[f] + i);
      out.edges.push_back(offsets[f] + j);
    }
  }
  return out;
}

}  // namespace pympas::cpu
