// fastloss/clustering.hpp -- k-means inertia on the per-sample driver.
//
// Per sample (a row x_i of X, d values) the squared distance to its nearest
// center, label_i = argmin_k ||x_i - c_k||^2, the lowest k among equals (as
// scikit-learn). Distances are computed directly, sum_j (x_ij - c_kj)^2 in
// j order -- no ||x||^2 - 2 x.c + ||c||^2 cancellation, so the nearest
// center and the inertia are exact to rounding -- in register tiles of rows
// x centers (center_tiles: the centers transposed in tiles, so the inner
// loop runs over centers and vectorizes); the row's loss is the distance to
// the chosen center.
//
// The gradient w.r.t. the centers, d/dc_k = 2 sum_{i: label_i = k} g_i
// (c_k - x_i) with g_i the driver's gradient scale, is a sum over samples
// into shared centers: eval records label_i and g_i, and kmeans_center_grad
// sums them afterwards in fixed blocks of rows (float64 partials per block,
// the blocks added in order), so the bits do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "fastloss/api/clustering.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/tensors.hpp"

#if FL_HAVE_OPENMP
#include <omp.h>
#endif

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace clu {

// Centers per register tile: one 32-byte GNU vector (8 float, 4 double
// lanes; two registers on the SSE2 baseline, one on AVX2 and AVX-512), and
// rows per tile: kR rows x one vector of running distances stay in
// registers across the d features, each center value loaded once per kR
// rows. Lane c sums its center's (x_j - c_j)^2 in j order, so the bits are
// those of the plain loop on every ISA (-ffp-contract=off).
template <class T>
constexpr int64_t kLanes = static_cast<int64_t>(32 / sizeof(T));
constexpr int64_t kR = 4;

// The centers in tiles of kLanes: tile b holds d rows of kLanes values,
// centers b kLanes .. b kLanes + kLanes - 1 (zero past k: those lanes are
// never compared).
template <class T>
std::vector<T> center_tiles(const T* C, int64_t k, int64_t d) {
  constexpr int64_t L = kLanes<T>;
  const int64_t nb = (k + L - 1) / L;
  std::vector<T> t(static_cast<size_t>(nb * d * L), T(0));
  for (int64_t c = 0; c < k; ++c)
    for (int64_t j = 0; j < d; ++j) t[((c / L) * d + j) * L + c % L] = C[c * d + j];
  return t;
}

template <class T>
struct KmeansRows {
  typedef T V __attribute__((vector_size(32)));
  static constexpr int64_t L = kLanes<T>;
  static constexpr int64_t group = kBlock;  // rows of one cost: whole reduction blocks
  static constexpr int cost = 64;
  const T* X;      // n x d
  const T* tiles;  // center_tiles
  int64_t d, k;
  int64_t* labels;  // n, or nullptr: not asked
  T* gscale;        // n, with a gradient: the driver's scale of each row
  size_t scratch_bytes() const { return 0; }

  // Rows r0 .. r0 + R - 1: nearest center and its distance, the centers
  // compared in index order with a strict <, so the lowest index wins a tie.
  template <int64_t R>
  FL_INLINE void rows(int64_t r0, int64_t* best, T* bd) const {
    const int64_t nb = (k + L - 1) / L;
    for (int64_t b = 0; b < nb; ++b) {
      V acc[R];
      for (int64_t r = 0; r < R; ++r) acc[r] = V{};
      const T* FL_RESTRICT tb = tiles + b * d * L;
      const T* FL_RESTRICT x = X + r0 * d;
      for (int64_t j = 0; j < d; ++j) {
        V cj;
        __builtin_memcpy(&cj, tb + j * L, sizeof(V));
        for (int64_t r = 0; r < R; ++r) {
          const V t = x[r * d + j] - cj;
          acc[r] += t * t;
        }
      }
      const int64_t lim = std::min(L, k - b * L);
      for (int64_t r = 0; r < R; ++r)
        for (int64_t c = 0; c < lim; ++c)
          if ((b == 0 && c == 0) || acc[r][c] < bd[r]) {
            bd[r] = acc[r][c];
            best[r] = b * L + c;
          }
    }
  }

  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void*) const {
    int64_t best[kR];
    T bd[kR];
    int64_t i = 0;
    for (; i + kR <= len; i += kR) {
      rows<kR>(lo + i, best, bd);
      for (int64_t r = 0; r < kR; ++r) record<kGrad>(lo, i + r, best[r], bd[r], gs, value);
    }
    for (; i < len; ++i) {
      rows<1>(lo + i, best, bd);
      record<kGrad>(lo, i, best[0], bd[0], gs, value);
    }
  }

  template <bool kGrad>
  FL_INLINE void record(int64_t lo, int64_t i, int64_t best, T bd, const T* gs,
                        T* value) const {
    value[i] = bd;
    if (labels != nullptr) labels[lo + i] = best;
    if constexpr (kGrad) {
      if (gscale != nullptr) gscale[lo + i] = gs[i];
    }
  }
};

// g (k x d) = 2 sum_{i: label_i = k} gscale_i (c_k - x_i), in blocks of
// kBlock rows summed in order.
template <class T>
void kmeans_center_grad(const T* X, const T* C, const int64_t* labels, const T* gscale,
                        int64_t n, int64_t d, int64_t k, T* g, int n_threads) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  const int64_t stride = k * (d + 1);  // per center: sum g_i, then sum g_i x_i
  std::vector<double> part(static_cast<size_t>(nb * stride), 0.0);
#if FL_HAVE_OPENMP
#pragma omp parallel for num_threads(n_threads) schedule(static) if (nb > 1 && n_threads > 1)
#endif
  for (int64_t b = 0; b < nb; ++b) {
    double* p = part.data() + b * stride;
    const int64_t hi = std::min(n, (b + 1) * kBlock);
    for (int64_t i = b * kBlock; i < hi; ++i) {
      double* q = p + labels[i] * (d + 1);
      const double w = static_cast<double>(gscale[i]);
      const T* x = X + i * d;
      q[0] += w;
      for (int64_t j = 0; j < d; ++j) q[1 + j] += w * static_cast<double>(x[j]);
    }
  }
  (void)n_threads;
  for (int64_t c = 0; c < k; ++c) {
    for (int64_t j = 0; j < d; ++j) {
      double s = 0.0, v = 0.0;
      for (int64_t b = 0; b < nb; ++b) {
        const double* q = part.data() + b * stride + c * (d + 1);
        s += q[0];
        v += q[1 + j];
      }
      g[c * d + j] = static_cast<T>(2.0 * (static_cast<double>(C[c * d + j]) * s - v));
    }
  }
}

}  // namespace clu
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
