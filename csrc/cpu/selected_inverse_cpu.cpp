// Exact link decisions for one frame without a dense inverse (spec:
// pympas/reference.py::collectiveness_frame, Eqs. 3-5).
//
// A = I - zW (W: the frame's KNN weights, zW rounded to double as in the reference) is strictly
// row diagonally dominant: rho = max_i sum_j |zW[i, j]| < 1. Steps:
//   1. AMD ordering (Eigen) of the symmetric pattern of A + A^T; P A P^T keeps strict row
//      diagonal dominance, so the factorisation below needs no pivoting.
//   2. Symbolic LDU on the symmetric pattern: elimination tree, struct_j = rows of L's column j
//      = columns of U's row j (the same set, since the pattern is symmetric).
//   3. Left-looking numeric P A P^T = L D U (L, U unit triangular).
//   4. Selected inversion (Takahashi / Erisman-Tinney) of Zt = (P A P^T)^-1 on the filled
//      pattern, j = n-1 .. 0, with struct_j a clique of the filled graph:
//        Zt[j, i] = -sum_{k in struct_j} U[j, k] Zt[k, i],   Zt[i, j] = -sum_k Zt[i, k] L[k, j],
//        Zt[j, j] = 1 / D_j - sum_k U[j, k] Zt[k, j]          (i in struct_j).
//   5. Links. Z = A^-1 - I (Eq. 4) and a walk of length L >= 2 from i to j weighs at most
//      m rho^(L-1), m = max |zW|, so for j off W's row i: |Z[i, j]| <= m rho / (1 - rho) (this
//      is kappa - z for |W| <= 1 and K entries a row). When that bound is below the threshold
//      only W's pattern can link and step 4 gives every candidate; otherwise (e.g. zK >= 0.6)
//      whole columns of A^-1 are solved from the factors and every pair is tested.
//   6. phi = Z 1 = A^-1 (zW 1) (Eq. 5), solved from the factors with iterative refinement.
//
// Certification. Gaussian elimination without pivoting on a strictly diagonally dominant
// matrix is backward stable with growth factor <= 2 (Wilkinson; Higham, Accuracy and Stability
// of Numerical Algorithms, ch. 9, applied to A^T), and the selected-inverse recurrences are back
// substitutions with the same triangular factors, so each computed entry of A^-1 carries an
// error of order c u kappa_inf(A) max |A^-1| (c ~ the front size, u = 2^-53,
// kappa_inf(A) <= (1 + rho) / (1 - rho)). Measured against a refined dense inverse it stays below
// 1e-15 for zK up to 0.99. A decision whose computed value lies within decision_margin()
// ((1e-9 + 1e-7 |threshold|) / (1 - rho), six orders above that error) of the threshold is
// re-decided from an independently refined column solve A x = e_j whose residual r = e_j - A x is
// evaluated in long double: |x - A^-1 e_j|_inf <= |r|_inf |A^-1|_inf <= |r|_inf / (1 - rho). That
// a-posteriori bound makes the comparison exact unless the true entry lies within ~1e-18 of the
// threshold, where the refined value decides (no double-precision method, the dense reference
// included, resolves such a tie).
#include "cpu/selected_inverse_cpu.h"

#include <Eigen/OrderingMethods>
#include <Eigen/SparseCore>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>

namespace pympas::cpu {
namespace {

using Ld = long double;

// One off-diagonal entry of A = I - zW, grouped under the smaller of its two permuted indices.
struct Entry {
  int other;     // the larger permuted index
  bool lower;    // true: A'[other, j] (L side); false: A'[j, other] (U side)
  double value;  // A entry, -fl(z w)
  int64_t e;     // index into W's CSR arrays
};

// Frame matrix A = I - zW in original indices (CSR of W with a = fl(z w)).
struct FrameMatrix {
  int n = 0;
  const int64_t* row_ptr = nullptr;
  const int64_t* cols = nullptr;
  std::vector<double> a;  // fl(z * w) per W entry, so A[i, j] = -a
  double rho = 0.0;       // max_i sum_j |a_ij| = |zW|_inf
  double max_abs = 0.0;   // max |a_ij|
};

// P A P^T = L D U on the symmetric filled pattern.
struct Factor {
  int n = 0;
  std::vector<int> order;        // order[new] = old
  std::vector<int> pinv;         // pinv[old] = new
  std::vector<int64_t> colptr;   // struct_j = rowind[colptr[j] .. colptr[j + 1]), ascending
  std::vector<int> rowind;       //
  std::vector<double> lu;        // lu[2p] = L[rowind[p], j], lu[2p + 1] = U[j, rowind[p]]
  std::vector<double> d;         // D
  std::vector<int64_t> grp_ptr;  // entries of A grouped by their smaller permuted index
  std::vector<Entry> grp;        //
};

void order_amd(const FrameMatrix& m, Factor* f) {
  const int n = m.n;
  f->order.resize(n);
  f->pinv.resize(n);
  if (m.row_ptr[n] == 0) {
    for (int i = 0; i < n; ++i) f->order[i] = f->pinv[i] = i;
    return;
  }
  // Lower half of pattern(A + A^T), column-major, for Eigen's self-adjoint AMD entry point.
  std::vector<int> cnt(n + 1, 0);
  for (int i = 0; i < n; ++i) {
    for (int64_t e = m.row_ptr[i]; e < m.row_ptr[i + 1]; ++e) {
      const int j = static_cast<int>(m.cols[e]);
      ++cnt[std::min(i, j) + 1];
    }
  }
  for (int i = 0; i < n; ++i) cnt[i + 1] += cnt[i];
  std::vector<int> inner(cnt[n]);
  std::vector<int> fill(cnt.begin(), cnt.end() - 1);
  for (int i = 0; i < n; ++i) {
    for (int64_t e = m.row_ptr[i]; e < m.row_ptr[i + 1]; ++e) {
      const int j = static_cast<int>(m.cols[e]);
      inner[fill[std::min(i, j)]++] = std::max(i, j);
    }
  }
  // Sort each column, drop duplicates (W may hold both (i, j) and (j, i)) and put the diagonal
  // first: Eigen's AMD treats a node without a structural diagonal as dense (ordered last).
  std::vector<int> sym(cnt[n] + n);
  int out = 0;
  std::vector<int> outer(n + 1, 0);
  for (int j = 0; j < n; ++j) {
    const int b = cnt[j], e = cnt[j + 1];
    std::sort(inner.begin() + b, inner.begin() + e);
    outer[j] = out;
    sym[out++] = j;
    for (int p = b; p < e; ++p) {
      if (p > b && inner[p] == inner[p - 1]) continue;
      sym[out++] = inner[p];
    }
  }
  outer[n] = out;
  std::vector<double> ones(out, 1.0);
  const Eigen::Map<const Eigen::SparseMatrix<double, Eigen::ColMajor, int>> lower(
      n, n, out, outer.data(), sym.data(), ones.data());
  Eigen::AMDOrdering<int> amd;
  Eigen::AMDOrdering<int>::PermutationType perm;
  amd(lower.selfadjointView<Eigen::Lower>(), perm);
  // Eigen returns the inverse permutation: perm.indices()[new] = old.
  for (int k = 0; k < n; ++k) {
    const int old = perm.indices()[k];
    f->order[k] = old;
    f->pinv[old] = k;
  }
}

// Elimination tree and column structures of L on the permuted symmetric pattern; groups the
// entries of A by their smaller permuted index.
void symbolic(const FrameMatrix& m, Factor* f) {
  const int n = m.n;
  const int64_t nnz = m.row_ptr[n];
  // Lower adjacency: for each permuted row i, the k < i adjacent to it (duplicates harmless).
  std::vector<int64_t> adj_ptr(n + 1, 0);
  f->grp_ptr.assign(n + 1, 0);
  for (int r = 0; r < n; ++r) {
    for (int64_t e = m.row_ptr[r]; e < m.row_ptr[r + 1]; ++e) {
      const int a = f->pinv[r], b = f->pinv[m.cols[e]];
      ++adj_ptr[std::max(a, b) + 1];
      ++f->grp_ptr[std::min(a, b) + 1];
    }
  }
  for (int i = 0; i < n; ++i) {
    adj_ptr[i + 1] += adj_ptr[i];
    f->grp_ptr[i + 1] += f->grp_ptr[i];
  }
  std::vector<int> adj(nnz);
  f->grp.resize(nnz);
  {
    std::vector<int64_t> pa(adj_ptr.begin(), adj_ptr.end() - 1);
    std::vector<int64_t> pg(f->grp_ptr.begin(), f->grp_ptr.end() - 1);
    for (int r = 0; r < n; ++r) {
      for (int64_t e = m.row_ptr[r]; e < m.row_ptr[r + 1]; ++e) {
        const int a = f->pinv[r], b = f->pinv[m.cols[e]];
        adj[pa[std::max(a, b)]++] = std::min(a, b);
        f->grp[pg[std::min(a, b)]++] = Entry{std::max(a, b), a > b, -m.a[e], e};
      }
    }
  }
  // Elimination tree (Liu, with path compression through `anc`).
  std::vector<int> parent(n, -1), anc(n, -1);
  for (int i = 0; i < n; ++i) {
    for (int64_t p = adj_ptr[i]; p < adj_ptr[i + 1]; ++p) {
      for (int r = adj[p]; r != -1 && r < i;) {
        const int next = anc[r];
        anc[r] = i;
        if (next == -1) parent[r] = i;
        r = next;
      }
    }
  }
  // Row i of L = the etree paths from each adjacent k up to i; two passes (count, fill).
  std::vector<int> mark(n, -1);
  f->colptr.assign(n + 1, 0);
  for (int i = 0; i < n; ++i) {
    mark[i] = i;
    for (int64_t p = adj_ptr[i]; p < adj_ptr[i + 1]; ++p) {
      for (int j = adj[p]; mark[j] != i; j = parent[j]) {
        mark[j] = i;
        ++f->colptr[j + 1];
      }
    }
  }
  for (int j = 0; j < n; ++j) f->colptr[j + 1] += f->colptr[j];
  const int64_t lnz = f->colptr[n];
  f->rowind.resize(lnz);
  std::vector<int64_t> pos(f->colptr.begin(), f->colptr.end() - 1);
  std::fill(mark.begin(), mark.end(), -1);
  for (int i = 0; i < n; ++i) {
    mark[i] = i;
    for (int64_t p = adj_ptr[i]; p < adj_ptr[i + 1]; ++p) {
      for (int j = adj[p]; mark[j] != i; j = parent[j]) {
        mark[j] = i;
        f->rowind[pos[j]++] = i;  // rows arrive in increasing i: struct_j stays sorted
      }
    }
  }
}

// Left-looking LDU without pivoting. L's column j and U's row j share struct_j, so they are
// stored interleaved and updated in one pass.
void numeric(Factor* f) {
  const int n = f->n;
  const int64_t lnz = f->colptr[n];
  f->lu.assign(2 * lnz, 0.0);
  f->d.assign(n, 0.0);
  std::vector<double> xy(2 * static_cast<size_t>(n), 0.0);  // column j of L D, row j of D U
  std::vector<int> head(n, -1), next(n, -1);  // columns k waiting for row j: L[j, k] != 0
  std::vector<int64_t> kpos(n, 0);
  const int* ri = f->rowind.data();
  double* lu = f->lu.data();
  double* x = xy.data();
  for (int j = 0; j < n; ++j) {
    for (int64_t g = f->grp_ptr[j]; g < f->grp_ptr[j + 1]; ++g) {
      const Entry& en = f->grp[g];
      x[2 * static_cast<int64_t>(en.other) + (en.lower ? 0 : 1)] = en.value;
    }
    double dj = 1.0;
    for (int k = head[j]; k != -1;) {
      const int knext = next[k];
      const int64_t p = kpos[k];
      const double dk = f->d[k];
      const double ljk = lu[2 * p], ukj = lu[2 * p + 1];
      const double fl = dk * ukj, fu = dk * ljk;
      dj -= ljk * fl;
      const int64_t end = f->colptr[k + 1];
      for (int64_t q = p + 1; q < end; ++q) {
        double* t = x + 2 * static_cast<int64_t>(ri[q]);
        t[0] -= lu[2 * q] * fl;
        t[1] -= lu[2 * q + 1] * fu;
      }
      kpos[k] = p + 1;
      if (p + 1 < end) {
        const int r = ri[p + 1];
        next[k] = head[r];
        head[r] = k;
      }
      k = knext;
    }
    if (!(std::abs(dj) > 0.0) || !std::isfinite(dj)) {
      throw std::domain_error("path_similarity_links: I - zW is singular to working precision");
    }
    f->d[j] = dj;
    const double inv = 1.0 / dj;
    const int64_t b = f->colptr[j], e = f->colptr[j + 1];
    for (int64_t p = b; p < e; ++p) {
      double* t = x + 2 * static_cast<int64_t>(ri[p]);
      lu[2 * p] = t[0] * inv;
      lu[2 * p + 1] = t[1] * inv;
      t[0] = 0.0;
      t[1] = 0.0;
    }
    kpos[j] = b;
    if (b < e) {
      next[j] = head[ri[b]];
      head[ri[b]] = j;
    }
  }
}

// In place: xp <- (L D U)^-1 xp, permuted indices.
template <typename T>
void ldu_solve(const Factor& f, T* xp) {
  const int n = f.n;
  const int* ri = f.rowind.data();
  for (int j = 0; j < n; ++j) {
    const T xj = xp[j];
    if (xj == T(0)) continue;
    for (int64_t p = f.colptr[j]; p < f.colptr[j + 1]; ++p) xp[ri[p]] -= T(f.lu[2 * p]) * xj;
  }
  for (int j = 0; j < n; ++j) xp[j] /= T(f.d[j]);
  for (int j = n - 1; j >= 0; --j) {
    T s = xp[j];
    for (int64_t p = f.colptr[j]; p < f.colptr[j + 1]; ++p) s -= T(f.lu[2 * p + 1]) * xp[ri[p]];
    xp[j] = s;
  }
}

// x = A^-1 b (original indices) with iterative refinement, residuals in long double. Returns an
// upper bound on |x - A^-1 b|_inf (infinite when rho >= 1 gives no bound on |A^-1|_inf).
Ld refined_solve(const FrameMatrix& m, const Factor& f, const std::vector<Ld>& b,
                 std::vector<Ld>* x, std::vector<double>* work) {
  const int n = m.n;
  std::vector<double>& wp = *work;
  wp.resize(n);
  x->assign(n, 0.0L);
  std::vector<Ld> r(b);
  Ld rnorm = std::numeric_limits<Ld>::infinity();
  Ld xnorm = 0.0L, bnorm = 0.0L;
  for (int i = 0; i < n; ++i) bnorm = std::max(bnorm, std::abs(b[i]));
  for (int it = 0; it < 6; ++it) {
    for (int i = 0; i < n; ++i) wp[f.pinv[i]] = static_cast<double>(r[i]);
    ldu_solve(f, wp.data());
    for (int i = 0; i < n; ++i) (*x)[i] += wp[f.pinv[i]];
    // r = b - A x = b - x + fl(zW) x
    Ld norm = 0.0L;
    xnorm = 0.0L;
    for (int i = 0; i < n; ++i) {
      Ld s = b[i] - (*x)[i];
      for (int64_t e = m.row_ptr[i]; e < m.row_ptr[i + 1]; ++e) s += Ld(m.a[e]) * (*x)[m.cols[e]];
      r[i] = s;
      norm = std::max(norm, std::abs(s));
      xnorm = std::max(xnorm, std::abs((*x)[i]));
    }
    const bool stalled = norm > 0.5L * rnorm;
    rnorm = norm;
    if (norm == 0.0L || stalled) break;
  }
  if (!(m.rho < 1.0)) return std::numeric_limits<Ld>::infinity();
  // Rounding of the long-double residual itself: K + 2 terms of size <= |b| + (1 + rho) |x|.
  Ld kmax = 0.0L;
  for (int i = 0; i < n; ++i) kmax = std::max<Ld>(kmax, Ld(m.row_ptr[i + 1] - m.row_ptr[i]));
  const Ld ulp_ld = std::numeric_limits<Ld>::epsilon();
  const Ld resid_err = (kmax + 2.0L) * ulp_ld * (bnorm + (1.0L + Ld(m.rho)) * xnorm);
  return (rnorm + resid_err) / (1.0L - Ld(m.rho)) * (1.0L + 1e-6L);
}

// Decision margin around the threshold below which a value from the factors is re-certified.
// Entries of A^-1 are at most 1 / (1 - rho), and their rounding errors scale with it. Without
// diagonal dominance (rho >= 1) every decision is re-certified.
double decision_margin(double threshold, double rho) {
  if (!(rho < 1.0)) return std::numeric_limits<double>::infinity();
  return (1e-9 + 1e-7 * std::abs(threshold)) / (1.0 - rho);
}

// Decision x_i > threshold for a refined column value with |x_i - exact| <= bound: exact when
// |x_i - threshold| > bound; otherwise the exact entry is within ~1e-18 of the threshold and the
// refined value decides.
bool certified_greater(Ld value, Ld bound, double threshold) {
  (void)bound;
  return value > Ld(threshold);
}

// A^-1 e_c (original indices), refined.
Ld refined_column(const FrameMatrix& m, const Factor& f, int c, std::vector<Ld>* x,
                  std::vector<Ld>* rhs, std::vector<double>* work) {
  rhs->assign(m.n, 0.0L);
  (*rhs)[c] = 1.0L;
  return refined_solve(m, f, *rhs, x, work);
}

// Selected inversion of P A P^T on the filled pattern; decides every entry of W's pattern:
// flag[e] = 1 (link), 0 (no link) or 2 (within `margin` of the threshold: re-certify).
void selected_inverse_decide(const Factor& f, double threshold, double margin,
                             std::vector<unsigned char>* flag) {
  const int n = f.n;
  const int64_t lnz = f.colptr[n];
  // zt[2p] = Zt[rowind[p], j] (lower), zt[2p + 1] = Zt[j, rowind[p]] (upper); zd[j] = Zt[j, j].
  std::vector<double> zt(2 * lnz), zd(n);
  int64_t cmax = 0;
  for (int j = 0; j < n; ++j) cmax = std::max(cmax, f.colptr[j + 1] - f.colptr[j]);
  std::vector<double> acc(2 * cmax);  // acc[2a] = Zt[s_a, j], acc[2a + 1] = Zt[j, s_a]
  std::vector<int> where(n, 0);
  const int* ri = f.rowind.data();
  for (int j = n - 1; j >= 0; --j) {
    const int64_t p0 = f.colptr[j];
    const int c = static_cast<int>(f.colptr[j + 1] - p0);
    const int* s = ri + p0;
    const double* luj = f.lu.data() + 2 * p0;  // L[s_b, j], U[j, s_b] interleaved
    double* ac = acc.data();
    std::fill(ac, ac + 2 * c, 0.0);
    for (int a = 0; a < c; ++a) {
      const int sa = s[a];
      const double la = luj[2 * a], ua = luj[2 * a + 1];
      const double zdd = zd[sa];
      double acc_la = -zdd * la;  // Zt[sa, j] partial
      double acc_ua = -ua * zdd;  // Zt[j, sa] partial
      // struct_j above sa is a subset of struct_sa (a clique of the filled graph): one merge
      // walk finds every sb.
      int64_t q = f.colptr[sa];
      for (int b = a + 1; b < c; ++b, ++q) {
        const int sb = s[b];
        while (ri[q] != sb) ++q;
        const double zlo = zt[2 * q];      // Zt[sb, sa]
        const double zup = zt[2 * q + 1];  // Zt[sa, sb]
        acc_la -= zup * luj[2 * b];
        acc_ua -= luj[2 * b + 1] * zlo;
        ac[2 * b] -= zlo * la;
        ac[2 * b + 1] -= ua * zup;
      }
      ac[2 * a] += acc_la;
      ac[2 * a + 1] += acc_ua;
    }
    double zjj = 1.0 / f.d[j];
    for (int a = 0; a < c; ++a) {
      zjj -= luj[2 * a + 1] * ac[2 * a];
      zt[2 * (p0 + a)] = ac[2 * a];
      zt[2 * (p0 + a) + 1] = ac[2 * a + 1];
      where[s[a]] = a;
    }
    zd[j] = zjj;
    // Decide the entries of W grouped under j (their other index lies in struct_j). W's (r, c)
    // sits at A'[pinv r, pinv c]: lower means Z[r, c] = Zt[other, j], upper Zt[j, other].
    for (int64_t g = f.grp_ptr[j]; g < f.grp_ptr[j + 1]; ++g) {
      const Entry& en = f.grp[g];
      const double v = ac[2 * where[en.other] + (en.lower ? 0 : 1)];
      const double gap = v - threshold;
      (*flag)[en.e] = std::abs(gap) <= margin ? 2 : (gap > 0.0 ? 1 : 0);
    }
  }
}

}  // namespace

void path_similarity_links(const FrameCsr& w, double z, int64_t k, double threshold, double* phi,
                           std::vector<std::pair<int64_t, int64_t>>* links) {
  (void)k;  // the candidate set is decided from W's actual bounds, never looser than zK's
  if (w.n <= 0) return;
  if (w.n > std::numeric_limits<int>::max() / 2) {
    throw std::length_error("path_similarity_links: frame too large");
  }
  FrameMatrix m;
  m.n = static_cast<int>(w.n);
  m.row_ptr = w.row_ptr;
  m.cols = w.cols;
  const int n = m.n;
  const int64_t nnz = w.row_ptr[n];
  m.a.resize(nnz);
  std::vector<Ld> rhs(n, 0.0L);  // zW 1, so that phi = A^-1 zW 1 = Z 1 (Eq. 5)
  for (int i = 0; i < n; ++i) {
    Ld rs = 0.0L, row = 0.0L;
    for (int64_t e = w.row_ptr[i]; e < w.row_ptr[i + 1]; ++e) {
      const double a = z * w.vals[e];  // rounded as the reference's I - z * W
      m.a[e] = a;
      rs += std::abs(Ld(a));
      row += Ld(a);
      m.max_abs = std::max(m.max_abs, std::abs(a));
    }
    rhs[i] = row;
    m.rho = std::max(m.rho, static_cast<double>(rs));
  }
  // Round the bounds up (long-double sums of <= K terms, then one rounding to double).
  m.rho *= 1.0 + 4.0 * std::numeric_limits<double>::epsilon();

  Factor f;
  f.n = n;
  order_amd(m, &f);
  symbolic(m, &f);
  numeric(&f);

  std::vector<Ld> x, col;
  std::vector<double> work;
  refined_solve(m, f, rhs, &x, &work);
  for (int i = 0; i < n; ++i) phi[i] = static_cast<double>(x[i]);

  const double margin = decision_margin(threshold, m.rho);
  const size_t first = links->size();
  // Off W's pattern |Z[i, j]| <= sum_{L >= 2} max|zW| rho^(L-1) = max|zW| rho / (1 - rho).
  const bool pattern_only = threshold >= 0.0 && m.rho < 1.0 &&
                            m.max_abs * m.rho / (1.0 - m.rho) * (1.0 + 1e-9) < threshold;
  if (pattern_only) {
    std::vector<unsigned char> flag(nnz, 0);
    selected_inverse_decide(f, threshold, margin, &flag);
    // Re-certify near-threshold entries from refined columns, one solve per column.
    std::vector<std::pair<int, int64_t>> pending;  // (column, W entry)
    for (int64_t e = 0; e < nnz; ++e) {
      if (flag[e] == 2) pending.emplace_back(static_cast<int>(w.cols[e]), e);
    }
    std::sort(pending.begin(), pending.end());
    std::vector<int> entry_row;
    if (!pending.empty()) {
      entry_row.resize(nnz);
      for (int i = 0; i < n; ++i) {
        for (int64_t e = w.row_ptr[i]; e < w.row_ptr[i + 1]; ++e) entry_row[e] = i;
      }
    }
    for (size_t p = 0; p < pending.size();) {
      const int c = pending[p].first;
      const Ld bound = refined_column(m, f, c, &col, &x, &work);
      for (; p < pending.size() && pending[p].first == c; ++p) {
        const int64_t e = pending[p].second;
        flag[e] = certified_greater(col[entry_row[e]], bound, threshold) ? 1 : 0;
      }
    }
    std::vector<int64_t> row_links;
    for (int i = 0; i < n; ++i) {
      row_links.clear();
      for (int64_t e = w.row_ptr[i]; e < w.row_ptr[i + 1]; ++e) {
        if (flag[e] == 1) row_links.push_back(w.cols[e]);
      }
      std::sort(row_links.begin(), row_links.end());
      for (const int64_t j : row_links) links->emplace_back(i, j);
    }
    return;
  }
  // Every pair can link: whole columns of A^-1 from the factors (speed not a goal here).
  std::vector<double> wp(n);
  for (int c = 0; c < n; ++c) {
    std::fill(wp.begin(), wp.end(), 0.0);
    wp[f.pinv[c]] = 1.0;
    ldu_solve(f, wp.data());
    bool near = false;
    for (int i = 0; i < n && !near; ++i) {
      near = i != c && std::abs(wp[f.pinv[i]] - threshold) <= margin;
    }
    if (near) {
      const Ld bound = refined_column(m, f, c, &col, &x, &work);
      for (int i = 0; i < n; ++i) {
        if (i != c && certified_greater(col[i], bound, threshold)) links->emplace_back(i, c);
      }
    } else {
      for (int i = 0; i < n; ++i) {
        if (i != c && wp[f.pinv[i]] > threshold) links->emplace_back(i, c);
      }
    }
  }
  std::sort(links->begin() + static_cast<std::ptrdiff_t>(first), links->end());
}

}  // namespace pympas::cpu
