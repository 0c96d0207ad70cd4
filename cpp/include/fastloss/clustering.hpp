// fastloss/clustering.hpp -- k-means inertia on the per-sample driver.
//
// Per sample (a row x_i of X, d values) the squared distance to its nearest
// center, label_i = argmin_k ||x_i - c_k||^2, the lowest k among equals (as
// scikit-learn). Distances are computed directly, sum_j (x_ij - c_kj)^2 in
// j order -- no ||x||^2 - 2 x.c + ||c||^2 cancellation, so the nearest
// center and the inertia are exact to rounding -- against the centers
// transposed (d x k), so the inner loop runs over the k centers and
// vectorizes; the row's loss is the distance to the chosen center.
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

template <class T>
struct KmeansRows {
  static constexpr int64_t group = kBlock;  // rows of one cost: whole reduction blocks
  static constexpr int cost = 64;
  const T* X;    // n x d
  const T* cT;   // d x k, the centers transposed
  int64_t d, k;
  int64_t* labels;  // n, or nullptr: not asked
  T* gscale;        // n, with a gradient: the driver's scale of each row
  size_t scratch_bytes() const { return static_cast<size_t>(k) * sizeof(T); }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void* scratch) const {
    T* FL_RESTRICT dist = static_cast<T*>(scratch);
    for (int64_t i = 0; i < len; ++i) {
      const int64_t row = lo + i;
      const T* FL_RESTRICT x = X + row * d;
      for (int64_t c = 0; c < k; ++c) dist[c] = T(0);
      for (int64_t j = 0; j < d; ++j) {
        const T xj = x[j];
        const T* FL_RESTRICT cj = cT + j * k;
        FL_SIMD
        for (int64_t c = 0; c < k; ++c) {
          const T t = xj - cj[c];
          dist[c] += t * t;
        }
      }
      int64_t best = 0;
      T bd = dist[0];
      for (int64_t c = 1; c < k; ++c)
        if (dist[c] < bd) {  // strict: the lowest index among equals
          bd = dist[c];
          best = c;
        }
      value[i] = bd;
      if (labels != nullptr) labels[row] = best;
      if constexpr (kGrad) {
        if (gscale != nullptr) gscale[row] = gs[i];
      }
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
