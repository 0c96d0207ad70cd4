// fastloss/regularization.hpp -- auxiliary and regularization losses.
//
// Penalty: a |w| + b w^2 / 2 per weight (l1: a = 1, b = 0; l2: a = 0,
// b = 1; elastic net: a = l1_ratio, b = 1 - l1_ratio), a point rule over
// PointSamples; the subgradient of |w| at 0 is 0 (torch's sign).
// SoftmaxRows: per row of C logits, its softmax entropy (entropy
// regularization) or the square of its log-sum-exp (ST-MoE's router z-loss).
// Center: 1/2 ||x_i - c_{y_i}||^2 per sample (Wen et al. 2016).
// KlUnits: the sparse autoencoder's KL(rho || rho_hat_j) per hidden unit j,
// rho_hat_j the unit's mean activation over the batch.
// Every sum inside a sample is row_sum's (a tree fixed by its length): the
// same bits on any thread count and ISA level.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "fastloss/api/regularization.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/rowwise.hpp"
#include "fastloss/common/tensors.hpp"
#include "fastloss/common/vmath.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace reg {

template <class T>
struct Penalty {
  static constexpr int cost = 1;
  T a, b;  // the weights of |w| and w^2 / 2
  FL_INLINE void eval(T x, T& l, T& d) const {
    const T ax = x < T(0) ? -x : x;
    const T sg = x > T(0) ? T(1) : x < T(0) ? T(-1) : x;  // 0 at 0, NaN stays
    // a term whose weight is 0 is left out (0 * inf would be NaN)
    const T l1 = a != T(0) ? a * ax : T(0), l2 = b != T(0) ? b * (T(0.5) * x * x) : T(0);
    const T d1 = a != T(0) ? a * sg : T(0), d2 = b != T(0) ? b * x : T(0);
    l = l1 + l2;
    d = d1 + d2;
  }
};

// Rows of C logits: entropy (kZ false) or the squared log-sum-exp (kZ true).
template <class T, bool kZ>
struct SoftmaxRows {
  static constexpr int64_t group = 16;
  static constexpr int cost = 16;
  const T* z;
  T* g;
  int64_t C;
  // the row's p_k = exp(z_k - lse) in float64, taken once: the entropy and
  // the gradient's sums read them (each was an exp of its own before: four a
  // logit for entropy's value+grad)
  size_t scratch_bytes() const { return static_cast<size_t>(C) * sizeof(double); }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* gs, T* value, void* scratch) const {
    double* FL_RESTRICT pe = static_cast<double*>(scratch);
    for (int64_t i = 0; i < len; ++i) {
      const T* FL_RESTRICT r = z + (lo + i) * C;
      const T m = row_max(r, C);
      const double s =
          row_sum(C, [&](int64_t k) { return static_cast<double>(vm::exp(r[k] - m)); });
      const double lse = static_cast<double>(m) + std::log(s);
      // vm::exp in float64 (about 1 ulp, vectorized, the same bits on every
      // ISA level): std::exp a logit was 3/4 of entropy's time (7.9 against
      // torch's 2.8 ms on 65536 x 32 float32, 2 threads)
      if (!kZ || kGrad) {
        FL_SIMD
        for (int64_t k = 0; k < C; ++k) pe[k] = vm::exp(static_cast<double>(r[k]) - lse);
      }
      double h = 0.0;
      if constexpr (!kZ) {
        // -sum p log p, log p = z - lse; a p of 0 adds 0 (a -inf logit)
        h = row_sum(C, [&](int64_t k) {
          const double lp = static_cast<double>(r[k]) - lse;
          const double p = pe[k];
          return p == 0.0 ? 0.0 : -p * lp;
        });
        value[i] = static_cast<T>(h);
      } else {
        value[i] = static_cast<T>(lse * lse);
      }
      if constexpr (kGrad) {
        T* FL_RESTRICT gr = g + (lo + i) * C;
        const double w = static_cast<double>(gs[i]);
        // entropy: dH/dz_k = -p_k (log p_k + H) = -p_k (z_k - sum_j p_j z_j):
        // the second form has no lse in the difference, whose float32 exps
        // cost a nearly uniform row its digits (log p_k + H cancels there)
        double zbar = 0.0;
        if constexpr (!kZ) {
          const double pz = row_sum(C, [&](int64_t k) {
            const double p = pe[k];
            return p == 0.0 ? 0.0 : p * static_cast<double>(r[k]);
          });
          const double ps = row_sum(C, [&](int64_t k) { return pe[k]; });
          zbar = pz / ps;
        }
        for (int64_t k = 0; k < C; ++k) {
          const double p = pe[k];
          // z-loss: 2 lse p_k
          const double d =
              kZ ? 2.0 * lse * p : (p == 0.0 ? 0.0 : -p * (static_cast<double>(r[k]) - zbar));
          gr[k] = static_cast<T>(w * d);
        }
      }
    }
  }
};

template <class T>
struct Center {
  static constexpr int64_t group = 16;
  static constexpr int cost = 16;
  const T* x;
  const int64_t* labels;
  const T* centers;
  T* g;  // d loss / d x_i (the centers' gradient is summed from it after)
  int64_t D, K;
  size_t scratch_bytes() const { return 0; }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* gs, T* value, void*) const {
    for (int64_t i = 0; i < len; ++i) {
      const int64_t s = lo + i, y = labels[s];
      if (y < 0 || y >= K)
        throw std::invalid_argument("labels: label " + std::to_string(y) + " at sample " +
                                    std::to_string(s) + " is out of range [0, " +
                                    std::to_string(K) + ")");
      const T* FL_RESTRICT xr = x + s * D;
      const T* FL_RESTRICT cr = centers + y * D;
      const double ss = row_sum(D, [&](int64_t k) {
        const double d = static_cast<double>(xr[k] - cr[k]);
        return d * d;
      });
      value[i] = static_cast<T>(0.5 * ss);
      if constexpr (kGrad) {
        T* FL_RESTRICT gr = g + s * D;
        const T w = gs[i];
        FL_SIMD
        for (int64_t k = 0; k < D; ++k) gr[k] = w * (xr[k] - cr[k]);
      }
    }
  }
};

// KL(rho || rho_hat_j) per unit j; its gradient w.r.t. a_ij is the same for
// every sample i: (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) / N.
template <class T>
struct KlUnits {
  static constexpr int64_t group = 64;
  static constexpr int cost = 4;
  const double* rho_hat;  // J column means
  T* g;                   // N x J
  int64_t N, J;
  double rho;
  size_t scratch_bytes() const { return 0; }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* gs, T* value, void*) const {
    // units a piece of 64 at a time: their gradients are written row by row
    // (64 contiguous values a row), not down each column (a new cache line
    // every write: 9.4 ms against 0.5 for the value on 4096 x 256)
    constexpr int64_t kPiece = 64;
    T d[kPiece];
    for (int64_t p0 = 0; p0 < len; p0 += kPiece) {
      const int64_t np = len - p0 < kPiece ? len - p0 : kPiece;
      for (int64_t u = 0; u < np; ++u) {
        const int64_t i = p0 + u;
        const double q = rho_hat[lo + i];
        const double kl =
            rho * std::log(rho / q) + (1.0 - rho) * std::log((1.0 - rho) / (1.0 - q));
        value[i] = static_cast<T>(kl);
        if constexpr (kGrad)
          d[u] = static_cast<T>(static_cast<double>(gs[i]) * (-rho / q + (1.0 - rho) / (1.0 - q)) /
                                static_cast<double>(N));
      }
      if constexpr (kGrad) {
        for (int64_t r = 0; r < N; ++r) {
          T* FL_RESTRICT row = g + r * J + lo + p0;
          for (int64_t u = 0; u < np; ++u) row[u] = d[u];
        }
      }
    }
  }
};

}  // namespace reg
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
