// Circular Region Merging (CRM) rasterization: the union of discs of radius r around the kept
// particles of each frame. Spec: pympas/reference.py::rasterize_circles.
//
// Exactness: pixel (x, y) is set iff (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r in
// double, as in the reference. In one row that test is a monotone function of |x - cx| (rounding
// is monotone and symmetric), so the pixels it accepts form one run around the integer nearest
// cx: the run's ends are found from sqrt(r^2 - dy^2) and then corrected with the exact test, and
// the run is filled with memset.
#include "cpu/rasterize_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#ifdef PYMPAS_OPENMP
#include <omp.h>
#endif

namespace pympas::cpu {
namespace {

// Paints the discs of one frame, restricted to rows [row_lo, row_hi).
void paint_frame(const double* centers, int64_t count, int64_t width, int64_t height, double r,
                 int64_t row_lo, int64_t row_hi, uint8_t* mask) {
  const double r2 = r * r;
  for (int64_t c = 0; c < count; ++c) {
    const double cx = centers[2 * c], cy = centers[2 * c + 1];
    // Pixel range of the disc's bounding box, clamped in double before any integer conversion.
    const double fx0 = std::max(0.0, std::floor(cx - r));
    const double fx1 = std::min(static_cast<double>(width - 1), std::ceil(cx + r));
    const double fy0 = std::max(static_cast<double>(row_lo), std::floor(cy - r));
    const double fy1 =
        std::min(static_cast<double>(std::min(height, row_hi) - 1), std::ceil(cy + r));
    if (fx0 > fx1 || fy0 > fy1) continue;
    const int64_t x0 = static_cast<int64_t>(fx0), x1 = static_cast<int64_t>(fx1);
    const int64_t y0 = static_cast<int64_t>(fy0), y1 = static_cast<int64_t>(fy1);
    // The pixel of the row nearest the center minimises |x - cx|.
    const int64_t xc =
        std::clamp(static_cast<int64_t>(std::clamp(std::nearbyint(cx), fx0, fx1)), x0, x1);
    for (int64_t y = y0; y <= y1; ++y) {
      const double dy = static_cast<double>(y) - cy;
      const double dy2 = dy * dy;
      auto inside = [cx, dy2, r2](int64_t x) {
        const double dx = static_cast<double>(x) - cx;
        return dx * dx + dy2 <= r2;
      };
      if (!inside(xc)) continue;
      const double s = std::sqrt(std::max(r2 - dy2, 0.0));
      // Left end of the run in [x0, xc].
      int64_t left =
          static_cast<int64_t>(std::clamp(std::ceil(cx - s), fx0, static_cast<double>(xc)));
      if (inside(left)) {
        while (left > x0 && inside(left - 1)) --left;
      } else {
        while (!inside(left)) ++left;  // stops at xc at the latest
      }
      // Right end of the run in [xc, x1].
      int64_t right =
          static_cast<int64_t>(std::clamp(std::floor(cx + s), static_cast<double>(xc), fx1));
      if (inside(right)) {
        while (right < x1 && inside(right + 1)) ++right;
      } else {
        while (!inside(right)) --right;
      }
      std::memset(mask + y * width + left, 1, static_cast<size_t>(right - left + 1));
    }
  }
}

}  // namespace

void rasterize_circles(const double* centers, const int64_t* offsets, int64_t num_frames,
                       int64_t height, int64_t width, double radius, uint8_t* masks) {
  // Tasks are (frame, band of rows); bands only when there are fewer frames than threads, so
  // that no two threads ever write the same pixel.
  int64_t bands = 1;
#ifdef PYMPAS_OPENMP
  const int64_t threads = omp_get_max_threads();
  if (num_frames < threads)
    bands = std::min<int64_t>(height,
                              (2 * threads + num_frames - 1) / std::max<int64_t>(num_frames, 1));
#endif
  bands = std::max<int64_t>(bands, 1);
  const int64_t band_rows = (height + bands - 1) / bands;
  const int64_t tasks = num_frames * bands;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t f = t / bands, b = t % bands;
    const int64_t row_lo = b * band_rows, row_hi = std::min(height, row_lo + band_rows);
    if (row_lo >= row_hi) continue;
    paint_frame(centers + 2 * offsets[f], offsets[f + 1] - offsets[f], width, height, radius,
                row_lo, row_hi, masks + f * height * width);
  }
}

}  // namespace pympas::cpu
