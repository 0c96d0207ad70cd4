// fastloss/robust.hpp -- Barron's general and adaptive robust loss (CVPR
// 2019) on the per-sample driver, one sample per element.
//
// With x = pred - target, z = (x / c)^2, b = |alpha - 2|:
//   f = (b / alpha) ((z / b + 1)^(alpha / 2) - 1)
// computed as (b / alpha) expm1((alpha / 2) log1p(z / b)), which stays exact
// as alpha nears 0 (the reference clamps |alpha| and |alpha - 2| to float32's
// epsilon instead, which is off by up to 16% there). Within the dtype's
// epsilon of 0 and 2, and at -inf and +inf, the limits:
//   alpha = 0:    log1p(z / 2)       alpha = 2:    z / 2
//   alpha = -inf: -expm1(-z / 2)     alpha = +inf: expm1(z / 2)
// Derivatives, with u = z / b + 1, L = log1p(z / b), g = alpha L / 2,
// E = expm1(g), s = sign(alpha - 2):
//   df/dz     = (1 + E) / (2 u)        (0.5 u^(alpha/2 - 1))
//   df/dx     = df/dz 2 x / c^2,       df/dc = -df/dz 2 z / c
//   df/dalpha = s [ -(L / alpha) h(g) + (1 + E)(L - (u - 1) / u) / 2 ],
//               h(g) = e^g - (e^g - 1) / g   (a series for small g: the
//               two terms cancel there)
// The alpha derivative is 0 at +-inf (the limits do not depend on alpha),
// its limit L^2/4 - L/2 + z / (4 (1 + z/2)) (L = log1p(z/2)) within epsilon of
// 0, and 0 within epsilon of 2, where the one-sided derivatives diverge
// (like log|alpha - 2|): the reference's autograd gives 0 there too.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "fastloss/api/robust.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/tensors.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace rob {

// h(g) = e^g - (e^g - 1) / g = sum_k g^k k / (k + 1)!
template <class T>
inline T barron_h(T g, T e) {
  const T ag = g < T(0) ? -g : g;
  if (ag < T(0.1)) {
    // Horner over k = 1..10: coefficients k / (k + 1)!
    const T c[10] = {T(1.0 / 2), T(2.0 / 6), T(3.0 / 24), T(4.0 / 120), T(5.0 / 720),
                     T(6.0 / 5040), T(7.0 / 40320), T(8.0 / 362880), T(9.0 / 3628800),
                     T(10.0 / 39916800)};
    T s = c[9];
    for (int k = 8; k >= 0; --k) s = s * g + c[k];
    return s * g;
  }
  return (T(1) + e) - e / g;
}

// One element: the loss f and df/dz, df/dalpha.
template <class T, bool kAlphaGrad>
inline T barron_point(T z, T a, T& fz, T& fa) {
  constexpr T eps = std::numeric_limits<T>::epsilon();
  constexpr T inf = std::numeric_limits<T>::infinity();
  fa = T(0);
  if (a == -inf) {
    const T e = std::exp(T(-0.5) * z);
    fz = T(0.5) * e;
    return -std::expm1(T(-0.5) * z);
  }
  if (a == inf) {
    fz = T(0.5) * std::exp(T(0.5) * z);
    return std::expm1(T(0.5) * z);
  }
  const T d2 = a - T(2);
  if (std::fabs(a) < eps) {
    const T u = T(1) + T(0.5) * z;
    const T L = std::log1p(T(0.5) * z);
    fz = T(0.5) / u;
    if constexpr (kAlphaGrad) fa = T(0.25) * L * L - T(0.5) * L + T(0.25) * z / u;
    return L;
  }
  if (std::fabs(d2) < eps) {
    fz = T(0.5);
    return T(0.5) * z;
  }
  const T b = std::fabs(d2);
  const T y = z / b;
  const T u = y + T(1);
  const T L = std::log1p(y);
  const T g = T(0.5) * a * L;
  const T E = std::expm1(g);
  fz = T(0.5) * (T(1) + E) / u;
  if constexpr (kAlphaGrad) {
    const T s = d2 > T(0) ? T(1) : T(-1);
    fa = s * (-(L / a) * barron_h(g, E) + T(0.5) * (T(1) + E) * (L - y / u));
  }
  return (b / a) * E;
}

// alpha and scale: one value (kVecA / kVecC false) or one per element.
template <class T, bool kVecA, bool kVecC>
struct Barron {
  static constexpr int64_t group = kBlock;
  static constexpr int cost = 8;
  const T* pred;
  const T* target;
  const T* alpha;
  const T* scale;
  T* g_pred;  // nullptr: not asked
  T* g_alpha;
  T* g_scale;
  size_t scratch_bytes() const { return 0; }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void*) const {
    if (kGrad && g_alpha != nullptr)
      run<kGrad, true>(lo, len, gs, value);
    else
      run<kGrad, false>(lo, len, gs, value);
  }
  template <bool kGrad, bool kAlphaGrad>
  void run(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value) const {
    for (int64_t i = 0; i < len; ++i) {
      const int64_t j = lo + i;
      const T a = alpha[kVecA ? j : 0];
      const T c = scale[kVecC ? j : 0];
      const T x = pred[j] - target[j];
      const T r = x / c;
      const T z = r * r;
      T fz, fa;
      value[i] = barron_point<T, kAlphaGrad>(z, a, fz, fa);
      if constexpr (kGrad) {
        const T gz = gs[i] * fz;
        if (g_pred != nullptr) g_pred[j] = gz * T(2) * r / c;
        if (g_scale != nullptr) g_scale[j] = -gz * T(2) * z / c;
        if constexpr (kAlphaGrad) g_alpha[j] = gs[i] * fa;
      }
    }
  }
};

}  // namespace rob
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
