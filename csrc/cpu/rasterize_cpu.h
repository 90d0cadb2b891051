// Circular Region Merging rasterization (CPU). Spec: pympas/reference.py::rasterize_circles.
#pragma once
#include <cstdint>

namespace pympas::cpu {

// centers: (N, 2) row-major (x, y); offsets: (F+1,). masks: (F, H, W) zero-initialised bytes;
// pixel (x, y) becomes 1 iff (x - cx)^2 + (y - cy)^2 <= r^2 for some center of that frame.
void rasterize_circles(const double* centers, const int64_t* offsets, int64_t num_frames,
                       int64_t height, int64_t width, double radius, uint8_t* masks);

}  // namespace pympas::cpu
