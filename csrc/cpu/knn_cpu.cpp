// Batched K-nearest-neighbour velocity correlation (the C(i, j) of Eq. 1) on a uniform grid.
//
// Exactness: candidates are compared as (squared distance, index) pairs, the squared distance
// computed as dx * dx + dy * dy in double (no FMA contraction), exactly as the NumPy reference,
// so the neighbour lists agree bit for bit, ties included. The grid only decides which points
// are looked at; a search stops once a conservative lower bound on the distance of every unseen
// point exceeds the K-th best distance.
#include "cpu/knn_cpu.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/knn_frame_cpu.h"

#ifdef PYMPAS_OPENMP
#include <omp.h>
#endif

namespace pympas::cpu {
namespace detail {
namespace {

// Frames of at most this many particles use the brute-force O(m^2) search.
constexpr int64_t kBruteForceMax = 96;
// Target number of particles per grid cell.
constexpr double kPointsPerCell = 2.0;

struct Candidate {
  double d2;
  int64_t index;
};

inline bool before(double d2a, int64_t ia, const Candidate& b) {
  return d2a < b.d2 || (d2a == b.d2 && ia < b.index);
}

// The `take` best candidates so far, sorted by (d2, index).
class BestList {
 public:
  BestList(Candidate* buf, int64_t take) : buf_(buf), take_(take) {}
  void reset() { count_ = 0; }
  bool full() const { return count_ == take_; }
  double worst_d2() const { return buf_[take_ - 1].d2; }
  void offer(double d2, int64_t index) {
    int64_t pos;
    if (count_ == take_) {
      if (!before(d2, index, buf_[take_ - 1])) return;
      pos = take_ - 1;
    } else {
      pos = count_++;
    }
    while (pos > 0 && before(d2, index, buf_[pos - 1])) {
      buf_[pos] = buf_[pos - 1];
      --pos;
    }
    buf_[pos] = {d2, index};
  }
  void write(int64_t* out) const {
    for (int64_t m = 0; m < take_; ++m) out[m] = buf_[m].index;
  }

 private:
  Candidate* buf_;
  int64_t take_;
  int64_t count_ = 0;
};

inline double sq_dist(const double* p, int64_t i, double x, double y) {
  const double dx = p[2 * i] - x;
  const double dy = p[2 * i + 1] - y;
  return dx * dx + dy * dy;
}

void knn_brute_force(const double* p, int64_t m, int64_t take, int64_t* nbr, bool parallel) {
#pragma omp parallel if (parallel)
  {
    std::vector<Candidate> buf(take);
    BestList best(buf.data(), take);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < m; ++i) {
      best.reset();
      const double x = p[2 * i], y = p[2 * i + 1];
      for (int64_t j = 0; j < m; ++j) {
        if (j != i) best.offer(sq_dist(p, j, x, y), j);
      }
      best.write(nbr + i * take);
    }
  }
}

// Uniform grid over the bounding box; points sorted by cell (counting sort).
struct Grid {
  double minx = 0, miny = 0, inv_h = 1;
  int64_t gx = 1, gy = 1;
  double margin = 0;             // absolute slack on distance bounds for rounding
  std::vector<int64_t> start;    // (gx * gy + 1,) first sorted point of each cell
  std::vector<double> xy;        // (m, 2) sorted positions
  std::vector<int64_t> index;    // (m,) frame-local index of each sorted point
  std::vector<double> tx, ty;    // (m,) grid coordinates (x - minx) * inv_h of original points
  std::vector<int64_t> cell_of;  // (m,) cell of each original point

  Grid(const double* p, int64_t m) {
    double maxx = p[0], maxy = p[1];
    minx = p[0];
    miny = p[1];
    for (int64_t i = 1; i < m; ++i) {
      minx = std::min(minx, p[2 * i]);
      maxx = std::max(maxx, p[2 * i]);
      miny = std::min(miny, p[2 * i + 1]);
      maxy = std::max(maxy, p[2 * i + 1]);
    }
    const double wx = maxx - minx, wy = maxy - miny;
    const double cells = std::max(1.0, static_cast<double>(m) / kPointsPerCell);
    // Cell side h: about kPointsPerCell points a cell, at most ~3 cells per point even for
    // degenerate or elongated boxes; products of square roots avoid under- and overflow.
    double h = std::sqrt(wx) * std::sqrt(wy) / std::sqrt(cells);
    h = std::max(h, std::max(wx, wy) / cells);
    inv_h = 1.0 / h;
    const double cap = 4.0 * cells + 4.0;
    if (!(h > 0) || !std::isfinite(h) || !std::isfinite(inv_h)) {
      inv_h = 0.0;  // coinciding points or an overflowing box: one cell
    } else {
      gx = static_cast<int64_t>(std::min(wx * inv_h, cap)) + 1;
      gy = static_cast<int64_t>(std::min(wy * inv_h, cap)) + 1;
    }
    const double scale = std::fabs(minx) + std::fabs(miny) + std::fabs(maxx) + std::fabs(maxy);
    margin = 1e-10 * scale + 1e-300;

    tx.resize(m);
    ty.resize(m);
    cell_of.resize(m);
    start.assign(gx * gy + 1, 0);
    for (int64_t i = 0; i < m; ++i) {
      tx[i] = inv_h > 0 ? (p[2 * i] - minx) * inv_h : 0.0;
      ty[i] = inv_h > 0 ? (p[2 * i + 1] - miny) * inv_h : 0.0;
      // Clamped in double before the conversion (huge coordinates must not overflow).
      const auto cx = static_cast<int64_t>(std::min(tx[i], static_cast<double>(gx - 1)));
      const auto cy = static_cast<int64_t>(std::min(ty[i], static_cast<double>(gy - 1)));
      cell_of[i] = cy * gx + cx;
      ++start[cell_of[i] + 1];
    }
    for (int64_t c = 0; c < gx * gy; ++c) start[c + 1] += start[c];
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    xy.resize(2 * m);
    index.resize(m);
    for (int64_t i = 0; i < m; ++i) {
      const int64_t s = fill[cell_of[i]]++;
      xy[2 * s] = p[2 * i];
      xy[2 * s + 1] = p[2 * i + 1];
      index[s] = i;
    }
  }

  void scan_cell(int64_t cx, int64_t cy, int64_t self, double x, double y, BestList* best) const {
    const int64_t c = cy * gx + cx;
    for (int64_t s = start[c]; s < start[c + 1]; ++s) {
      const int64_t j = index[s];
      if (j != self) best->offer(sq_dist(xy.data(), s, x, y), j);
    }
  }
};

void knn_grid(const double* p, int64_t m, int64_t take, int64_t* nbr, bool parallel) {
  const Grid g(p, m);
#pragma omp parallel if (parallel)
  {
    std::vector<Candidate> buf(take);
    BestList best(buf.data(), take);
    // Queries in cell order for locality; each writes only its own row.
#pragma omp for schedule(dynamic, 256)
    for (int64_t s = 0; s < m; ++s) {
      const int64_t i = g.index[s];
      const double x = p[2 * i], y = p[2 * i + 1];
      const int64_t cx = g.cell_of[i] % g.gx, cy = g.cell_of[i] / g.gx;
      best.reset();
      for (int64_t r = 0;; ++r) {
        const int64_t x0 = cx - r, x1 = cx + r, y0 = cy - r, y1 = cy + r;
        const int64_t cx0 = std::max<int64_t>(x0, 0), cx1 = std::min(x1, g.gx - 1);
        if (y0 >= 0) {
          for (int64_t c = cx0; c <= cx1; ++c) g.scan_cell(c, y0, i, x, y, &best);
        }
        if (r > 0 && y1 < g.gy) {
          for (int64_t c = cx0; c <= cx1; ++c) g.scan_cell(c, y1, i, x, y, &best);
        }
        if (r > 0) {
          const int64_t ry0 = std::max<int64_t>(y0 + 1, 0), ry1 = std::min(y1 - 1, g.gy - 1);
          for (int64_t c = ry0; c <= ry1; ++c) {
            if (x0 >= 0) g.scan_cell(x0, c, i, x, y, &best);
            if (x1 < g.gx) g.scan_cell(x1, c, i, x, y, &best);
          }
        }
        // Every unseen point lies in a cell outside [x0, x1] x [y0, y1]: at least this far.
        double gap = std::numeric_limits<double>::infinity();
        if (x0 > 0) gap = std::min(gap, g.tx[i] - static_cast<double>(x0));
        if (x1 < g.gx - 1) gap = std::min(gap, static_cast<double>(x1 + 1) - g.tx[i]);
        if (y0 > 0) gap = std::min(gap, g.ty[i] - static_cast<double>(y0));
        if (y1 < g.gy - 1) gap = std::min(gap, static_cast<double>(y1 + 1) - g.ty[i]);
        if (gap == std::numeric_limits<double>::infinity()) break;  // whole grid seen
        if (best.full()) {
          const double bound = gap / g.inv_h - g.margin;
          if (bound > 0 && bound * bound * (1.0 - 1e-12) > best.worst_d2()) break;
        }
      }
      best.write(nbr + i * take);
    }
  }
}

}  // namespace

void knn_frame(const double* points, int64_t m, int64_t k, int64_t* nbr, bool parallel) {
  const int64_t take = knn_take(m, k);
  if (take == 0) return;
  if (m <= kBruteForceMax || take == m - 1) {
    knn_brute_force(points, m, take, nbr, parallel);
  } else {
    knn_grid(points, m, take, nbr, parallel);
  }
}

void unit_velocity(const double* v, double* ux, double* uy) {
  const double vx = v[0], vy = v[1];
  const double norm =
      std::max(std::sqrt(vx * vx + vy * vy), std::numeric_limits<double>::epsilon());
  *ux = vx / norm;
  *uy = vy / norm;
}

bool parallelise_inside_frames(int64_t num_frames) {
#ifdef PYMPAS_OPENMP
  return !omp_in_parallel() && num_frames < omp_get_max_threads();
#else
  (void)num_frames;
  return false;
#endif
}

}  // namespace detail

void knn_correlation(const double* points, const double* velocities, const int64_t* offsets,
                     int64_t num_frames, int64_t k, int64_t* neighbors, double* corr) {
  const bool inner = detail::parallelise_inside_frames(num_frames);
#pragma omp parallel for schedule(dynamic, 1) if (!inner)
  for (int64_t f = 0; f < num_frames; ++f) {
    const int64_t lo = offsets[f], m = offsets[f + 1] - offsets[f];
    const int64_t take = detail::knn_take(m, k);
    std::vector<int64_t> local(m * take);
    detail::knn_frame(points + 2 * lo, m, k, local.data(), inner);
    std::vector<double> u(2 * m);
    for (int64_t i = 0; i < m; ++i) {
      detail::unit_velocity(velocities + 2 * (lo + i), &u[2 * i], &u[2 * i + 1]);
    }
    for (int64_t i = 0; i < m; ++i) {
      int64_t* nrow = neighbors + (lo + i) * k;
      double* crow = corr + (lo + i) * k;
      for (int64_t c = 0; c < take; ++c) {
        const int64_t j = local[i * take + c];
        nrow[c] = lo + j;
        crow[c] = u[2 * i] * u[2 * j] + u[2 * i + 1] * u[2 * j + 1];
      }
      for (int64_t c = take; c < k; ++c) {
        nrow[c] = -1;
        crow[c] = 0.0;
      }
    }
  }
}

}  // namespace pympas::cpu
