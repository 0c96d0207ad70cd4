// fastloss/clustering.hpp -- k-means inertia on the per-sample driver.
//
// Per sample (a row x_i of X, d values): its nearest center, as scikit-learn
// assigns it (sklearn/cluster/_k_means_lloyd.pyx, _update_chunk_dense):
//   label_i = argmin_k ( ||c_k||^2 - 2 x_i . c_k )   (the lowest k among equals)
// and its loss, the squared distance to that center computed directly,
//   l_i = sum_j (x_ij - c_label_i,j)^2
// as scikit-learn's _inertia_dense computes it (no cancellation in the value;
// the assignment is the only place the ||c||^2 - 2 x.c form is read, and
// where two centers are within its rounding of each other both forms may
// pick differently: fastloss follows scikit-learn's).
//
// Assignment: a blocked, register-tiled distance computation (the shape of
// tiles.hpp's microkernel). The centers are packed once per call into
// panels of kNC centers (d x kNC, center c's feature j at j * kNC + c % kNC:
// two vectors of this ISA, or one where k fits it), with their squared
// norms (summed in double, in j order, rounded once). A tile of kMR rows
// runs across the panels: per panel kMR x kNC dot products in registers,
// x_ij broadcast, each lane a sequential sum over j -- -ffp-contract=off
// keeps every product and sum apart (no FMA), so a lane's bits are those of
// the plain loop on every ISA level, and every thread count (a row is one
// thread's) -- then ||c||^2 - (x.c + x.c) (exactly scikit-learn's ||c||^2 +
// (-2) x.c: the factor 2 is exact), stored per row with a lane-wise running
// minimum. After the last panel each row's minimum and its lowest index
// are found (neither depends on the panel width or the order of the lanes).
// NaN: a NaN distance wins over any number, the first NaN among NaNs
// (np.argmin's rule), so a NaN in x_i or in any center gives NaN for the
// rows it reaches, never a silent finite value ("NaN in, NaN out");
// scikit-learn refuses NaN input before it assigns.
//
// The gradient w.r.t. the centers, d/dc_k = 2 sum_{i: label_i = k} g_i
// (c_k - x_i) with g_i the driver's gradient scale, is a sum over samples
// into shared centers: eval adds g_i and g_i x_i into its reduction block's
// float64 partials (the driver gives a block to one task, in order), and
// kmeans_center_grad adds the blocks in order, so the bits do not depend on
// the thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "fastloss/api/clustering.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/tensors.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace clu {

// This level's vector registers (as tiles.hpp: a GNU vector wider than the
// registers is lowered through the stack) and the tile: kMR rows x kNC
// centers (two vectors) of accumulators, plus the two center vectors and a
// broadcast, fit the register file (AVX-512: 16 of 32 zmm; AVX2 and the
// SSE2 baseline: 8 + 3 of 16).
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int kMR = 8;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
constexpr int kMR = 4;
#else
constexpr int kVecBytes = 16;
constexpr int kMR = 4;
#endif

template <class T>
struct Vec {
  typedef T type __attribute__((vector_size(kVecBytes)));
  static constexpr int64_t lanes = kVecBytes / sizeof(T);
};
// Centers per panel: W vectors (2; 1 where the centers fit one vector, so a
// k-means of a few clusters does not compute a second vector of padding).
template <class T, int W>
constexpr int64_t kNC = W * Vec<T>::lanes;

// Center indices in a lane of T's width, so the running (value, index)
// selects vectorize lane for lane.
template <class T>
using Idx = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;

// The centers in panels (see the header) and their squared norms (lanes
// past k: zeros and norm +inf; assign sets their distances to +inf).
template <class T, int W>
struct Centers {
  std::vector<T> panels;
  std::vector<T> norms;
  int64_t n_panels;
  Centers(const T* C, int64_t k, int64_t d) {
    constexpr int64_t NC = kNC<T, W>;
    n_panels = (k + NC - 1) / NC;
    panels.assign(static_cast<size_t>(n_panels * d * NC), T(0));
    norms.assign(static_cast<size_t>(n_panels * NC), std::numeric_limits<T>::infinity());
    for (int64_t c = 0; c < k; ++c) {
      double s = 0.0;
      for (int64_t j = 0; j < d; ++j) {
        const T v = C[c * d + j];
        panels[static_cast<size_t>(((c / NC) * d + j) * NC + c % NC)] = v;
        s += static_cast<double>(v) * static_cast<double>(v);
      }
      norms[static_cast<size_t>(c)] = static_cast<T>(s);
    }
  }
};

template <class T, int kW>
struct KmeansRows {
  using V = typename Vec<T>::type;
  using I = Idx<T>;
  static constexpr int64_t NC = kNC<T, kW>;
  static constexpr int64_t L = Vec<T>::lanes;
  static constexpr int64_t group = kBlock;  // rows of one cost: whole reduction blocks
  static constexpr int cost = 64;
  const T* X;        // n x d
  const T* C;        // k x d
  const T* panels;   // Centers
  const T* norms;    // Centers
  int64_t n_panels;  // Centers
  int64_t d, k;
  int64_t* labels;  // n, or nullptr: not asked
  double* part;     // with a gradient: per reduction block, k x (1 + d) partials
  size_t scratch_bytes() const {
    return static_cast<size_t>(kMR * n_panels * NC) * sizeof(T);
  }

  // Rows r0 .. r0 + R - 1: the nearest center of each. Per row, the
  // distances of every panel are stored (dist, in L1) while their lane-wise
  // minimum and NaN flag are kept; then the minimum m (a min is exact: any
  // order gives its bits), and the label is the lowest index whose distance
  // is m -- or, where a distance is NaN, the lowest such index. Reductions
  // of plain selects, so they vectorize; a running (value, index) pair with
  // NaN rules per lane did not (scalar branches: 60% of the time).
  template <int R>
  FL_INLINE void assign(int64_t r0, I* best, T* FL_RESTRICT dist) const {
    const int64_t kp = n_panels * NC;  // a row's distances in dist
    alignas(64) T mn[R][NC];
    alignas(64) I nan[R][NC];
    const T* FL_RESTRICT x = X + r0 * d;
    for (int64_t b = 0; b < n_panels; ++b) {
      const T* FL_RESTRICT p = panels + b * d * NC;
      V acc[R][kW];
      for (int r = 0; r < R; ++r)
        for (int w = 0; w < kW; ++w) acc[r][w] = V{};
      for (int64_t j = 0; j < d; ++j) {
        V cv[kW];
        for (int w = 0; w < kW; ++w) std::memcpy(&cv[w], p + j * NC + w * L, sizeof(V));
        for (int r = 0; r < R; ++r) {
          const T xv = x[r * d + j];
          for (int w = 0; w < kW; ++w) acc[r][w] += xv * cv[w];
        }
      }
      V cn[kW];
      for (int w = 0; w < kW; ++w) std::memcpy(&cn[w], norms + b * NC + w * L, sizeof(V));
      for (int r = 0; r < R; ++r)
        for (int w = 0; w < kW; ++w) {
          // scikit-learn's ||c||^2 + (-2) x.c: the doubling is exact
          const V dv = cn[w] - (acc[r][w] + acc[r][w]);
          std::memcpy(dist + r * kp + b * NC + w * L, &dv, sizeof(V));
        }
      if (b == n_panels - 1 && k < kp) {
        // the lanes past k: +inf, whatever x holds (an infinite x_j times
        // their zeros is NaN), so no label ever names a center that is not there
        for (int r = 0; r < R; ++r)
          for (int64_t c = k; c < kp; ++c) dist[r * kp + c] = std::numeric_limits<T>::infinity();
      }
      for (int r = 0; r < R; ++r) {
        const T* FL_RESTRICT dr = dist + r * kp + b * NC;
        T* FL_RESTRICT m = mn[r];
        I* FL_RESTRICT q = nan[r];
        if (b == 0) {
          FL_SIMD
          for (int64_t l = 0; l < NC; ++l) {
            m[l] = dr[l];
            q[l] = dr[l] != dr[l];
          }
        } else {
          FL_SIMD
          for (int64_t l = 0; l < NC; ++l) {
            m[l] = dr[l] < m[l] ? dr[l] : m[l];
            q[l] |= dr[l] != dr[l];
          }
        }
      }
    }
    for (int r = 0; r < R; ++r) {
      const T* FL_RESTRICT dr = dist + r * kp;
      T* FL_RESTRICT m = mn[r];
      I* FL_RESTRICT q = nan[r];
      for (int64_t h = NC / 2; h >= 1; h /= 2) {
        FL_SIMD
        for (int64_t l = 0; l < h; ++l) {
          m[l] = m[l + h] < m[l] ? m[l + h] : m[l];
          q[l] |= q[l + h];
        }
      }
      best[r] = q[0] ? first_nan(dr, kp) : first_equal(dr, kp, m[0]);
    }
  }

  // The lowest i < kp with dr[i] == v (there is one: v is their minimum).
  static FL_INLINE I first_equal(const T* FL_RESTRICT dr, int64_t kp, T v) {
    alignas(64) I q[NC];
    for (int64_t l = 0; l < NC; ++l) q[l] = std::numeric_limits<I>::max();
    for (int64_t b = kp - NC; b >= 0; b -= NC) {  // down: a lower index overwrites
      FL_SIMD
      for (int64_t l = 0; l < NC; ++l) q[l] = dr[b + l] == v ? static_cast<I>(b + l) : q[l];
    }
    return min_lane(q);
  }

  // The lowest i < kp with dr[i] NaN (there is one).
  static FL_NOINLINE I first_nan(const T* dr, int64_t kp) {
    for (int64_t i = 0; i < kp; ++i)
      if (dr[i] != dr[i]) return static_cast<I>(i);
    return 0;
  }

  static FL_INLINE I min_lane(I* FL_RESTRICT q) {
    for (int64_t h = NC / 2; h >= 1; h /= 2) {
      FL_SIMD
      for (int64_t l = 0; l < h; ++l) q[l] = q[l + h] < q[l] ? q[l + h] : q[l];
    }
    return q[0];
  }

  // sum_j (x_j - c_j)^2 in 8 fixed lanes (lane j mod 8), the lanes then
  // added in order: the same bits at every vector width.
  FL_INLINE T sqdist(const T* FL_RESTRICT x, const T* FL_RESTRICT c) const {
    T s[8] = {};
    int64_t j = 0;
    for (; j + 8 <= d; j += 8) {
      FL_SIMD
      for (int l = 0; l < 8; ++l) {
        const T t = x[j + l] - c[j + l];
        s[l] += t * t;
      }
    }
    for (int l = 0; j < d; ++j, ++l) {
      const T t = x[j] - c[j];
      s[l] += t * t;
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  }

  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void* scratch) const {
    double* q = nullptr;
    if constexpr (kGrad) {
      // this block's partials; its first chunk starts them (the driver runs
      // a block's chunks in order on one thread)
      q = part + (lo / kBlock) * k * (d + 1);
      if (lo % kBlock == 0) std::fill(q, q + k * (d + 1), 0.0);
    }
    I best[kMR];
    // the distances of a tile's rows (kMR x every panel), in the thread's scratch
    T* dist = static_cast<T*>(scratch);
    int64_t i = 0;
    for (; i + kMR <= len; i += kMR) {
      assign<kMR>(lo + i, best, dist);
      for (int r = 0; r < kMR; ++r) record<kGrad>(lo, i + r, best[r], gs, value, q);
    }
    for (; i < len; ++i) {
      assign<1>(lo + i, best, dist);
      record<kGrad>(lo, i, best[0], gs, value, q);
    }
  }

  template <bool kGrad>
  FL_INLINE void record(int64_t lo, int64_t i, I best, const T* gs, T* value, double* q) const {
    const T* x = X + (lo + i) * d;
    value[i] = sqdist(x, C + best * d);
    if (labels != nullptr) labels[lo + i] = best;
    if constexpr (kGrad) {
      double* FL_RESTRICT qc = q + best * (d + 1);
      const double w = static_cast<double>(gs[i]);
      qc[0] += w;
      for (int64_t j = 0; j < d; ++j) qc[1 + j] += w * static_cast<double>(x[j]);
    }
  }
};

// g (k x d) = 2 (c_k sum g_i - sum g_i x_i) over the rows labelled k, the
// per-block partials (KmeansRows::eval) added in block order.
template <class T>
void kmeans_center_grad(const T* C, const double* part, int64_t n, int64_t d, int64_t k, T* g) {
  const int64_t nb = (n + kBlock - 1) / kBlock;
  const int64_t stride = k * (d + 1);
  std::vector<double> tot(static_cast<size_t>(stride), 0.0);
  for (int64_t b = 0; b < nb; ++b) {
    const double* FL_RESTRICT q = part + b * stride;
    double* FL_RESTRICT t = tot.data();
    FL_SIMD
    for (int64_t e = 0; e < stride; ++e) t[e] += q[e];
  }
  for (int64_t c = 0; c < k; ++c) {
    const double* t = tot.data() + c * (d + 1);
    for (int64_t j = 0; j < d; ++j)
      g[c * d + j] = static_cast<T>(2.0 * (static_cast<double>(C[c * d + j]) * t[0] - t[1 + j]));
  }
}

}  // namespace clu
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
