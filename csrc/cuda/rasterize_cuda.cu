// Circular Region Merging (CRM) rasterization on the GPU. Spec:
// pympas/reference.py::rasterize_circles; CPU twin: csrc/cpu/rasterize_cpu.cpp.
//
// Exactness: pixel (x, y) is set iff (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r in
// double with every operation explicitly rounded (no FMA), restricted like the reference to the
// disc's bounding box [floor(c - r), ceil(c + r)]. In one row the test is monotone in |x - cx|, so
// the accepted pixels form one run around the pixel nearest cx; its ends are estimated from
// sqrt(r^2 - dy^2) and corrected with the exact test (the CPU kernel does the same).
//
// Bandwidth: one block per tile of kTileRows x kTileCols pixels of one frame. The block collects
// the discs whose bounding box meets the tile into shared memory, paints their runs into a
// shared bitmap of the tile (32-bit shared-memory atomicOr, one (disc, row) pair per thread), then
// writes every byte of the tile exactly once, 16 pixels per 16-byte store when rows are 16-byte
// aligned. The output therefore needs no zeroing and is written with no atomics on global memory.
#include <cstdint>

#include "cuda/common_cuda.cuh"
#include "cuda/kernels_cuda.h"

namespace pympas::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kTileRows = 32;  // one warp covers the tile rows of one disc
constexpr int kTileCols = 2048;
constexpr int kWordsPerRow = kTileCols / 32;
constexpr int kCandidateCap = 2 * kThreads;

struct Candidate {
  double cx, cy;
  int x0, x1, y0, y1;  // bounding box of the disc clipped to the tile (inclusive pixel ranges)
};

__device__ __forceinline__ bool inside(int x, double cx, double dy2, double r2) {
  const double dx = __dadd_rn(static_cast<double>(x), -cx);
  return __dadd_rn(__dmul_rn(dx, dx), dy2) <= r2;
}

__device__ __forceinline__ double clamp_to(double v, double lo, double hi) {
  return v >= lo ? (v <= hi ? v : hi) : lo;  // NaN -> lo
}

// Sets bits [left, right] (tile-local columns) of one bitmap row.
__device__ void paint_run(uint32_t* row_bits, int left, int right) {
  const int w0 = left >> 5, w1 = right >> 5;
  for (int w = w0; w <= w1; ++w) {
    const int lo_bit = w == w0 ? (left & 31) : 0;
    const int hi_bit = w == w1 ? (right & 31) : 31;
    const uint32_t mask = (0xffffffffu >> (31 - hi_bit)) & (0xffffffffu << lo_bit);
    atomicOr(row_bits + w, mask);
  }
}

// The run of row y of candidate c (y inside its clipped box) painted into the tile bitmap.
__device__ void paint_row(const Candidate& c, int y, double r2, int tx0, int ty0,
                          uint32_t (*bits)[kWordsPerRow]) {
  const double dy = __dadd_rn(static_cast<double>(y), -c.cy);
  const double dy2 = __dmul_rn(dy, dy);
  const double fx0 = c.x0, fx1 = c.x1;
  // The pixel of [x0, x1] nearest cx maximises the test; if it fails, the row is empty.
  const int xc = static_cast<int>(clamp_to(rint(c.cx), fx0, fx1));
  if (!inside(xc, c.cx, dy2, r2)) return;
  const double s = __dsqrt_rn(fmax(__dadd_rn(r2, -dy2), 0.0));
  int left = static_cast<int>(clamp_to(ceil(__dadd_rn(c.cx, -s)), fx0, static_cast<double>(xc)));
  if (inside(left, c.cx, dy2, r2)) {
    while (left > c.x0 && inside(left - 1, c.cx, dy2, r2)) --left;
  } else {
    while (!inside(left, c.cx, dy2, r2)) ++left;  // stops at xc at the latest
  }
  int right = static_cast<int>(clamp_to(floor(__dadd_rn(c.cx, s)), static_cast<double>(xc), fx1));
  if (inside(right, c.cx, dy2, r2)) {
    while (right < c.x1 && inside(right + 1, c.cx, dy2, r2)) ++right;
  } else {
    while (!inside(right, c.cx, dy2, r2)) --right;
  }
  paint_run(bits[y - ty0], left - tx0, right - tx0);
}

// 16 mask bits -> 16 bytes of 0/1 (pixel x0 + b in byte b, little-endian).
__device__ __forceinline__ uint32_t expand4(uint32_t nibble) {
  return (nibble & 1u) | ((nibble & 2u) << 7) | ((nibble & 4u) << 14) | ((nibble & 8u) << 21);
}

__global__ void __launch_bounds__(kThreads)
    rasterize_kernel(const double* __restrict__ centers, const int64_t* __restrict__ offsets,
                     int64_t num_frames, int height, int width, double r, int tiles_x, int tiles_y,
                     bool vector_stores, uint8_t* __restrict__ masks) {
  __shared__ uint32_t bits[kTileRows][kWordsPerRow];
  __shared__ Candidate candidates[kCandidateCap];
  __shared__ int num_candidates;
  const double r2 = __dmul_rn(r, r);
  const int tid = threadIdx.x;
  const int64_t tiles_per_frame = static_cast<int64_t>(tiles_x) * tiles_y;
  const int64_t num_tiles = num_frames * tiles_per_frame;
  for (int64_t tile = blockIdx.x; tile < num_tiles; tile += gridDim.x) {
    const int64_t f = tile / tiles_per_frame;
    const int t = static_cast<int>(tile % tiles_per_frame);
    const int ty0 = (t / tiles_x) * kTileRows, tx0 = (t % tiles_x) * kTileCols;
    const int ty1 = min(ty0 + kTileRows, height) - 1, tx1 = min(tx0 + kTileCols, width) - 1;
    for (int w = tid; w < kTileRows * kWordsPerRow; w += kThreads) (&bits[0][0])[w] = 0u;
    if (tid == 0) num_candidates = 0;
    __syncthreads();

    const int64_t lo = offsets[f], hi = offsets[f + 1];
    for (int64_t base = lo; base < hi; base += kThreads) {
      // Collect the discs of this round whose bounding box meets the tile.
      const int64_t i = base + tid;
      if (i < hi) {
        const double cx = centers[2 * i], cy = centers[2 * i + 1];
        const double x0 = fmax(floor(__dadd_rn(cx, -r)), static_cast<double>(tx0));
        const double x1 = fmin(ceil(__dadd_rn(cx, r)), static_cast<double>(tx1));
        const double y0 = fmax(floor(__dadd_rn(cy, -r)), static_cast<double>(ty0));
        const double y1 = fmin(ceil(__dadd_rn(cy, r)), static_cast<double>(ty1));
        if (x0 <= x1 && y0 <= y1) {
          const int slot = atomicAdd(&num_candidates, 1);
          candidates[slot] = {cx,
                              cy,
                              static_cast<int>(x0),
                              static_cast<int>(x1),
                              static_cast<int>(y0),
                              static_cast<int>(y1)};
        }
      }
      __syncthreads();
      const int count = num_candidates;
      __syncthreads();
      // Paint once the list could overflow in the next round, and after the last round.
      if (count > kCandidateCap - kThreads || base + kThreads >= hi) {
        for (int p = tid; p < count * kTileRows; p += kThreads) {
          const Candidate& c = candidates[p / kTileRows];
          const int y = ty0 + p % kTileRows;
          if (y >= c.y0 && y <= c.y1) paint_row(c, y, r2, tx0, ty0, bits);
        }
        __syncthreads();
        if (tid == 0) num_candidates = 0;
        __syncthreads();
      }
    }

    // Write every byte of the tile once.
    const int rows = ty1 - ty0 + 1, cols = tx1 - tx0 + 1;
    uint8_t* out = masks + (f * height + ty0) * static_cast<int64_t>(width) + tx0;
    if (vector_stores) {  // cols % 16 == 0 and every row start 16-byte aligned
      const int chunks = cols / 16;
      for (int q = tid; q < rows * chunks; q += kThreads) {
        const int row = q / chunks, chunk = q % chunks;
        const uint32_t half = (bits[row][chunk >> 1] >> ((chunk & 1) * 16)) & 0xffffu;
        const uint4 v = make_uint4(expand4(half & 0xfu), expand4((half >> 4) & 0xfu),
                                   expand4((half >> 8) & 0xfu), expand4(half >> 12));
        *reinterpret_cast<uint4*>(out + static_cast<int64_t>(row) * width + chunk * 16) = v;
      }
    } else {
      for (int q = tid; q < rows * cols; q += kThreads) {
        const int row = q / cols, col = q % cols;
        out[static_cast<int64_t>(row) * width + col] =
            static_cast<uint8_t>((bits[row][col >> 5] >> (col & 31)) & 1u);
      }
    }
    __syncthreads();  // the bitmap is reused by the next tile
  }
}

}  // namespace

void rasterize_circles(uintptr_t centers, uintptr_t offsets, int64_t num_frames, int64_t height,
                       int64_t width, double radius, uintptr_t masks, int device,
                       uintptr_t stream) {
  if (num_frames < 0) throw std::invalid_argument("num_frames must be >= 0");
  if (height < 1 || width < 1 || height > INT32_MAX - kTileRows || width > INT32_MAX - kTileCols) {
    throw std::invalid_argument("height and width must lie in [1, 2^31 - 2^11]");
  }
  if (!(radius >= 0.0) || radius == HUGE_VAL) {
    throw std::invalid_argument("radius must be finite and >= 0");
  }
  if (num_frames == 0) return;
  detail::DeviceGuard guard(device);
  const int tiles_x = static_cast<int>((width + kTileCols - 1) / kTileCols);
  const int tiles_y = static_cast<int>((height + kTileRows - 1) / kTileRows);
  const bool vector_stores = width % 16 == 0 && masks % 16 == 0;
  const int64_t num_tiles = num_frames * tiles_x * tiles_y;
  const unsigned int blocks = static_cast<unsigned int>(num_tiles < 1048576 ? num_tiles : 1048576);
  rasterize_kernel<<<blocks, kThreads, 0, detail::as_stream(stream)>>>(
      reinterpret_cast<const double*>(centers), reinterpret_cast<const int64_t*>(offsets),
      num_frames, static_cast<int>(height), static_cast<int>(width), radius, tiles_x, tiles_y,
      vector_stores, reinterpret_cast<uint8_t*>(masks));
  detail::check(cudaGetLastError(), "rasterize_circles kernel launch");
}

}  // namespace pympas::cuda
