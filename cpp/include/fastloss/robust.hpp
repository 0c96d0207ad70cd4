// fastloss/robust.hpp -- Barron's general and adaptive robust loss (CVPR
// 2019) on the per-sample driver, one sample per element.
//
// With x = pred - target, z = (x / c)^2, b = |alpha - 2|:
//   f = (b / alpha) ((z / b + 1)^(alpha / 2) - 1)
// computed as (b / alpha) expm1((alpha / 2) log1p(z / b)), which stays exact
// as alpha nears 0 (the reference clamps |alpha| and |alpha - 2| to float32's
// epsilon instead, which is off by up to 16% there) and as |alpha| grows
// (z / b + 1 rounds to 1 there: at alpha = -1e15 the power form gives 0 where
// the loss is nearly Welsch's 1 - exp(-z/2)). Within the dtype's epsilon of 0
// and 2, and at -inf and +inf, the limits:
//   alpha = 0:    log1p(z / 2)       alpha = 2:    z / 2
//   alpha = -inf: -expm1(-z / 2)     alpha = +inf: expm1(z / 2)
// Derivatives, with y = z / b, u = y + 1, L = log1p(y), g = alpha L / 2,
// E = expm1(g), s = sign(alpha - 2), D = L - y / u:
//   df/dz     = (1 + E) / (2 u)        (0.5 u^(alpha/2 - 1))
//   df/dx     = df/dz 2 x / c^2,       df/dc = -df/dz 2 z / c
//   df/dalpha = s [ -(L / alpha) h(g) + (1 + E) D / 2 ],
//               h(g) = e^g - (e^g - 1) / g   (a series for small g: the
//               two terms cancel there)
// D = log1p(y) - y / (1 + y) ~ y^2 / 2 cancels as well for small y: there it
// is the series sum_k>=2 w^k / k, w = y / u (L = -log(1 - w)); computed
// directly it lost 4e-4 (relative) of the float32 alpha gradient at alpha =
// -1500, y = 3e-4 (the fuzz harness, seed 0, input 63509).
// Below y = 1/16 and |g| = 1/16, where the closed form's two terms (~y^2/4
// each) cancel to ~b y^3/24, d/dalpha is a series in y (barron_fa_series).
// What is left: alpha within ~1e-2 of 2 with y >= 1/16 but z small (b < 16 z),
// where the closed form keeps a relative error of ~12 eps / z (1.1e-11 at
// alpha = 2.0056, x = 0.033 against 50-digit mpmath; the float64 reference
// is series there); and, for any z, a relative error that grows like
// eps / |alpha - 2| as alpha nears 2 (against 60-digit mpmath, z = 0.25, 1,
// 4: ~1e-12 down to |alpha - 2| = 1e-4, 5e-11..4e-10 at 2 +- 1e-6,
// 1e-6..4e-6 at 2 +- 1e-10, 2e-3..3e-3 at 2 +- 1e-13; 0 within eps of 2).
// The alpha derivative is 0 at +-inf (the limits do not depend on alpha),
// its limit L^2/4 - D/2 (L = log1p(z/2), D as above with y = z/2) within
// epsilon of 0, and 0 within epsilon of 2, where the one-sided derivatives
// diverge (like log|alpha - 2|): the reference's autograd gives 0 there too.
//
// Speed. Every element runs one branch-free formula (vm::log1p, expm1 below,
// selects for the limits), so the loop vectorizes: the libm calls it had
// (log1p, expm1, each scalar) made it 0.6x the reference's PyTorch version.
// The selects for the limits are compiled out of the loop (kSpecial false)
// when no alpha of a chunk is a limit, the common case; an alpha that is one
// value is then loop-invariant and its b, b / alpha are hoisted. Both paths
// run the same operations on an ordinary alpha, so its bits do not depend on
// the path, nor (no FMA contraction, vm's functions) on the ISA level.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "fastloss/api/robust.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/tensors.hpp"
#include "fastloss/common/vmath.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace rob {

// expm1, vectorizable, from vm::exp's reduction: x = n ln2 + r, expm1(x) =
// 2^n expm1(r) + (2^n - 1) with expm1(r) = r + r^2 P(r) (vm::exp's
// polynomial without its 1): 2^n expm1(r) is exact and 2^n - 1 too for the
// n it is used at, so the sum rounds once and stays exact as x nears 0
// (n = 0: expm1(r) alone, r = x). Above n = 56 (25 in float) the -1 no
// longer matters and the result is exp's e 2^n1 2^n2 (2^n itself overflows
// at n = 1024); below x = -40 (-20 in float) it is -1 to rounding.
// e = exp(x) comes with it (e 2^n1 2^n2, a product more): 1 + expm1(x)
// loses exp(x) below -37 (-17 in float), where it rounds to 0, and the
// derivatives need it there (0.5 u^(alpha/2 - 1) for an outlier at alpha < 0:
// the fuzz harness's input 59248, seed 0, gave 0 for 1e-51).
// The reduction and polynomial are vm::exp's own (vm::detail::exp_reduce).
template <class T>
FL_INLINE T expm1(T x, T& e) {
  constexpr bool f32 = sizeof(T) == 4;
  T t, hi, tail, s1, s2;
  const T nf = vm::detail::exp_reduce(x, t, hi, tail);
  vm::detail::exp_scale(t, s1, s2);
  const T em = hi + tail;  // expm1(r)
  const T s = s1 * s2;
  const T ex = ((T(1) + em) * s1) * s2;  // exp(x) (not exp_core's bits: 1 + em rounds once)
  const T inf = std::numeric_limits<T>::infinity();
  const T over = f32 ? T(88.8f) : T(709.9);
  T y = vm::select(nf > (f32 ? T(25) : T(56)), ex, s * em + (s - T(1)));
  y = vm::select(x > over, inf, y);
  e = vm::select(x > over, inf, ex);
  e = vm::select(x < (f32 ? T(-104) : T(-746)), T(0), e);
  return vm::select(x < (f32 ? T(-20) : T(-40)), T(-1), y);
}

// h(g) = e^g - (e^g - 1) / g = sum_k g^k k / (k + 1)!, E = expm1(g), P = e^g: the
// series (Horner over k = 1..10) below |g| = 0.1, where the two terms cancel.
template <class T>
FL_INLINE T barron_h(T g, T E, T P) {
  T sr = T(10.0 / 39916800);
  sr = sr * g + T(9.0 / 3628800);
  sr = sr * g + T(8.0 / 362880);
  sr = sr * g + T(7.0 / 40320);
  sr = sr * g + T(6.0 / 5040);
  sr = sr * g + T(5.0 / 720);
  sr = sr * g + T(4.0 / 120);
  sr = sr * g + T(3.0 / 24);
  sr = sr * g + T(2.0 / 6);
  sr = sr * g + T(1.0 / 2);
  sr = sr * g;
  return vm::select(vm::vabs(g) < T(0.1), sr, P - E / g);
}

// D = log1p(y) - y / (1 + y) for y >= 0, given L = log1p(y), w = y / (1 + y):
// directly above y = 1/8 (1/4 in float), where it keeps all but ~5 bits,
// and below as sum_{k>=2} w^k / k (w <= 1/9: 17 terms in double, w <= 1/5:
// 11 in float, each below the last kept term's rounding).
// Horner's steps sr * w + 1/k for k = kFrom down to 2, written out by the
// template (a loop left inside the element loop kept GCC from vectorizing
// it: the alpha gradient took 9.6 ms on 1e6 float32 instead of ~4).
template <int k, class T>
FL_INLINE T barron_d_steps(T sr, T w) {
  if constexpr (k < 2) {
    return sr;
  } else {
    return barron_d_steps<k - 1>(sr * w + T(1.0 / k), w);
  }
}
template <class T>
FL_INLINE T barron_d(T y, T L, T w) {
  T sr;
  if constexpr (sizeof(T) == 8) {
    sr = barron_d_steps<17>(T(1.0 / 18), w);
  } else {
    sr = barron_d_steps<11>(T(1.0 / 12), w);
  }
  sr = sr * (w * w);
  return vm::select(y < (sizeof(T) == 8 ? T(0.125) : T(0.25)), sr, L - w);
}

// df/dalpha as a series in y for small y and g, where the two terms of the
// closed form (each ~y^2/4) cancel to ~b y^3/24 (relative error ~12 eps / z
// from them): from f = sum_k z^k phi_k(alpha), phi_k = (b/alpha) C(alpha/2,
// k) b^-k,
//   df/dalpha = b sum_{k>=3} y^k R_k / (2^k k!),
//   R_k = sum_{j=2}^{k-1} 2 (j - 1) prod_{i=2..k-1, i != j} (alpha - 2 i)
// (R_3 = 2: b y^3 / 24). With Q_k = prod_{i=2}^{k-1} (alpha - 2 i), T = Q_k
// t_k, S = R_k t_k and t_k = y^k / (2^k k!), each step multiplies by
// y / (2 (k + 1)) and (alpha - 2k) (no power of alpha alone, so no overflow
// at huge alpha), and shrinks them by at least ~max(y, |g|) / 2 <= 1/32 below
// the thresholds where it is used: 13 terms in double, 6 in float. Valid at
// alpha = 0 too (no division by alpha), the limit's derivative there.
template <int k, int kLast, class T>
FL_INLINE T barron_fa_steps(T y, T a, T tq, T ts, T acc) {
  if constexpr (k >= kLast) {
    return acc;
  } else {
    const T step = y * T(0.5 / (k + 1));
    const T ak = a - T(2 * k);
    const T ts1 = (ts * ak + tq * T(2 * (k - 1))) * step;
    return barron_fa_steps<k + 1, kLast>(y, a, (tq * ak) * step, ts1, acc + ts1);
  }
}
template <class T>
FL_INLINE T barron_fa_series(T y, T a, T b) {
  constexpr int kLast = sizeof(T) == 8 ? 15 : 8;
  const T t3 = (y * y) * y * T(1.0 / 48);
  // Q_3 t_3, R_3 t_3, and the sum so far
  return b * barron_fa_steps<3, kLast>(y, a, (a - T(4)) * t3, T(2) * t3, T(2) * t3);
}

// Whether alpha takes one of the limits.
template <class T>
FL_INLINE bool barron_special(T a) {
  constexpr T eps = std::numeric_limits<T>::epsilon();
  // bitwise &: && is a branch in the vectorized loop that calls this; the
  // operands named first (clang's -Wbitwise-instead-of-logical on calls)
  const bool off0 = vm::vabs(a) >= eps;
  const bool off2 = vm::vabs(a - T(2)) >= eps;
  const bool finite = vm::vabs(a) < std::numeric_limits<T>::infinity();
  return !(off0 & off2 & finite);
}

// One element: the loss f, df/dz and (kAlphaGrad) df/dalpha. kSpecial: alpha
// may be a limit (selects for each); without it alpha must not be one (NaN
// alpha goes either way: it makes every result NaN).
template <class T, bool kSpecial, bool kAlphaGrad>
FL_INLINE T barron_point(T z, T a, T& fz, T& fa) {
  // (bitwise | and & on the conditions: || and && are branches, which stop
  // GCC from vectorizing the loop)
  constexpr T eps = std::numeric_limits<T>::epsilon();
  constexpr T inf = std::numeric_limits<T>::infinity();
  const T d2 = a - T(2);
  T b = vm::vabs(d2);
  bool near0 = false, near2 = false, pinf = false, ninf = false;
  if constexpr (kSpecial) {
    near0 = vm::vabs(a) < eps;
    near2 = vm::vabs(d2) < eps;
    pinf = a == inf;
    ninf = a == -inf;
    b = vm::select(near0, T(2), b);  // the limit is log1p(z / 2)
  }
  const T y = z / b;
  const T u = y + T(1);
  const T L = vm::log1p(y);
  T g = T(0.5) * a * L;
  if constexpr (kSpecial) {
    g = vm::select(pinf, T(0.5) * z, g);
    g = vm::select(ninf, T(-0.5) * z, g);
  }
  T P;
  const T E = expm1(g, P);  // P = e^g
  T f = (b / a) * E;
  fz = T(0.5) * P / u;
  if constexpr (kSpecial) {
    f = vm::select(pinf, E, f);
    f = vm::select(ninf, -E, f);
    f = vm::select(near0, L, f);
    f = vm::select(near2, T(0.5) * z, f);
    fz = vm::select(pinf | ninf, T(0.5) * P, fz);
    fz = vm::select(near0, T(0.5) / u, fz);
    fz = vm::select(near2, T(0.5), fz);
  }
  if constexpr (kAlphaGrad) {
    const T D = barron_d(y, L, y / u);
    const T s = vm::select(d2 > T(0), T(1), T(-1));
    fa = s * (-(L / a) * barron_h(g, E, P) + T(0.5) * P * D);
    if constexpr (kSpecial) fa = vm::select(near0, T(0.25) * L * L - T(0.5) * D, fa);
    const T lim = T(1.0 / 16);
    const bool small_y = y < lim;
    const bool small_g = vm::vabs(g) < lim;
    fa = vm::select(small_y & small_g, barron_fa_series(y, a, b), fa);
    if constexpr (kSpecial) fa = vm::select(near2 | pinf | ninf, T(0), fa);
  } else {
    fa = T(0);
  }
  return f;
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
  // where the gradients not asked go (the loop stores all three: no branch)
  size_t scratch_bytes() const { return 3 * kChunk * sizeof(T); }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void* scratch) const {
    bool special;
    if constexpr (kVecA) {
      int any = 0;
      const T* FL_RESTRICT al = alpha + lo;
      FL_PRAGMA(omp simd reduction(| : any))
      for (int64_t i = 0; i < len; ++i) any |= static_cast<int>(barron_special(al[i]));
      special = any != 0;
    } else {
      special = barron_special(alpha[0]);
    }
    T* sink = static_cast<T*>(scratch);
    if (kGrad && g_alpha != nullptr) {
      if (special)
        run<kGrad, true, true>(lo, len, gs, value, sink);
      else
        run<kGrad, true, false>(lo, len, gs, value, sink);
    } else if (special) {
      run<kGrad, false, true>(lo, len, gs, value, sink);
    } else {
      run<kGrad, false, false>(lo, len, gs, value, sink);
    }
  }
  template <bool kGrad, bool kAlphaGrad, bool kSpecial>
  void run(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
           T* sink) const {
    const T* FL_RESTRICT p = pred + lo;
    const T* FL_RESTRICT t = target + lo;
    const T* FL_RESTRICT al = alpha + (kVecA ? lo : 0);
    const T* FL_RESTRICT sc = scale + (kVecC ? lo : 0);
    T* FL_RESTRICT gp = g_pred != nullptr ? g_pred + lo : sink;
    T* FL_RESTRICT ga = kAlphaGrad ? g_alpha + lo : sink + kChunk;
    T* FL_RESTRICT gc = g_scale != nullptr ? g_scale + lo : sink + 2 * kChunk;
    FL_SIMD
    for (int64_t i = 0; i < len; ++i) {
      const T a = al[kVecA ? i : 0];
      const T c = sc[kVecC ? i : 0];
      const T x = p[i] - t[i];
      const T r = x / c;
      const T z = r * r;
      T fz, fa;
      value[i] = barron_point<T, kSpecial, kAlphaGrad>(z, a, fz, fa);
      if constexpr (kGrad) {
        const T gz = gs[i] * fz;
        gp[i] = gz * T(2) * r / c;
        gc[i] = -gz * T(2) * z / c;
        if constexpr (kAlphaGrad) ga[i] = gs[i] * fa;
      }
    }
  }
};

}  // namespace rob
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
