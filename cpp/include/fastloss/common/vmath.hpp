// fastloss/common/vmath.hpp -- exp, log, log1p and the logistic helpers that
// loss loops call, written so compilers vectorize them.
//
// Why our own: a call to libm inside a loop stops vectorization (0.045 G
// elements/s for scalar log1p(exp(x)) on the reference machine), and libmvec
// is glibc-only and does not give the same bits on every ISA. These functions
// are branch-free (selects, no calls, no tables), use only +,-,*,/ and bit
// moves, so with -ffp-contract=off they return the same bits at every vector
// width.
//
// Accuracy (tests/test_vmath.py checks it against the C library over the
// whole range): double exp/log use fdlibm's reductions and polynomials
// (< 1 ulp in fdlibm, about 1 ulp here since the final scaling is split in
// two); float exp/log are Cephes' expf/logf (about 1-2 ulp). Special values
// follow C: exp(+inf)=inf, exp(-inf)=0, log(0)=-inf, log(<0)=NaN, NaN -> NaN.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

#include "fastloss/common/config.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace vm {

FL_INLINE float bits_to_f(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
FL_INLINE int32_t f_to_bits(float f) {
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}
FL_INLINE double bits_to_d(int64_t i) {
  double f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
FL_INLINE int64_t d_to_bits(double f) {
  int64_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}

template <class T>
FL_INLINE T vabs(T x) {
  return x < T(0) ? -x : x;
}
template <class T>
FL_INLINE T vmax(T a, T b) {
  return a > b ? a : b;
}
template <class T>
FL_INLINE T vmin(T a, T b) {
  return a < b ? a : b;
}
template <class T>
FL_INLINE bool visnan(T x) {
  return x != x;
}

// ---------------------------------------------------------------- exp
FL_INLINE float exp(float x) {
  // Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial.
  // NaN is replaced by 0 for the arithmetic (no float->int of NaN) and
  // restored at the end.
  const float xc = x > 88.8f ? 88.8f : (x < -104.0f ? -104.0f : (x != x ? 0.0f : x));
  const float magic = 12582912.0f;  // 1.5 * 2^23: adds round-to-nearest
  const float t = xc * 1.44269504088896341f + magic;
  const float nf = t - magic;
  float r = xc - nf * 0.693359375f;
  r = r - nf * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  // 2^n in two halves, so n down to -150 (subnormal results) and up to 129
  // (overflow to inf) stay representable.
  const int32_t n = static_cast<int32_t>(nf);
  const int32_t n1 = n >> 1;
  const int32_t n2 = n - n1;
  const float s1 = bits_to_f((n1 + 127) << 23);
  const float s2 = bits_to_f((n2 + 127) << 23);
  const float y = p * s1 * s2;
  return x != x ? x : (x < -104.0f ? 0.0f : y);
}

FL_INLINE double exp(double x) {
  // fdlibm __ieee754_exp: x = n ln2 + (hi - lo), rational approximation.
  const double xc = x > 709.9 ? 709.9 : (x < -745.5 ? -745.5 : (x != x ? 0.0 : x));
  const double magic = 6755399441055744.0;  // 1.5 * 2^52
  const double t = xc * 1.44269504088896338700e+00 + magic;
  const double nf = t - magic;
  const double hi = xc - nf * 6.93147180369123816490e-01;
  const double lo = nf * 1.90821492927058770002e-10;
  const double r = hi - lo;
  const double z = r * r;
  const double c =
      r - z * (1.66666666666666019037e-01 +
               z * (-2.77777777770155933842e-03 +
                    z * (6.61375632143793436117e-05 +
                         z * (-1.65339022054652515390e-06 + z * 4.13813679705723846039e-08))));
  const double p = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
  const int64_t n = static_cast<int64_t>(nf);
  const int64_t n1 = n >> 1;
  const int64_t n2 = n - n1;
  const double s1 = bits_to_d((n1 + 1023) << 52);
  const double s2 = bits_to_d((n2 + 1023) << 52);
  const double y = p * s1 * s2;
  const double big = x > 709.9 ? std::numeric_limits<double>::infinity() : y;
  return x != x ? x : (x < -745.5 ? 0.0 : big);
}

// ---------------------------------------------------------------- log
FL_INLINE float log(float x) {
  // Cephes logf: x = m 2^e, m in [sqrt(1/2), sqrt(2)), polynomial in m - 1.
  const bool sub = x < 1.17549435e-38f;  // subnormal (or <= 0): scale by 2^25
  const float xs = sub ? x * 33554432.0f : x;
  const int32_t bits = f_to_bits(xs);
  int32_t e = ((bits >> 23) & 0xff) - 126;
  float m = bits_to_f((bits & 0x007fffff) | 0x3f000000);  // in [0.5, 1)
  const bool low = m < 0.707106781186547524f;
  e = low ? e - 1 : e;
  m = low ? m + m - 1.0f : m - 1.0f;
  const float ef = static_cast<float>(e) - (sub ? 25.0f : 0.0f);
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y = y + ef * -2.12194440e-4f;
  y = y - 0.5f * z;
  float r = m + y;
  r = r + ef * 0.693359375f;
  const float inf = std::numeric_limits<float>::infinity();
  r = x == inf ? inf : r;
  r = x == 0.0f ? -inf : r;
  r = x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : r;
  return x != x ? x : r;
}

FL_INLINE double log(double x) {
  // fdlibm __ieee754_log: x = 2^k (1 + f), sqrt(2)/2 <= 1 + f < sqrt(2),
  // log(1+f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f).
  const bool sub = x < 2.2250738585072014e-308;
  const double xs = sub ? x * 18014398509481984.0 : x;  // 2^54
  const int64_t bits = d_to_bits(xs);
  int64_t k = ((bits >> 52) & 0x7ff) - 1023;
  double m = bits_to_d((bits & 0x000fffffffffffffLL) | 0x3ff0000000000000LL);  // [1, 2)
  const bool high = m > 1.41421356237309504880;
  k = high ? k + 1 : k;
  m = high ? m * 0.5 : m;
  const double f = m - 1.0;
  const double kd = static_cast<double>(k) - (sub ? 54.0 : 0.0);
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double w = z * z;
  const double t1 =
      w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01));
  const double t2 =
      z * (6.666666666666735130e-01 +
           w * (2.857142874366239149e-01 +
                w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
  const double R = t2 + t1;
  const double hfsq = 0.5 * f * f;
  double r = kd * 6.93147180369123816490e-01 -
             ((hfsq - (s * (hfsq + R) + kd * 1.90821492927058770002e-10)) - f);
  const double inf = std::numeric_limits<double>::infinity();
  r = x == inf ? inf : r;
  r = x == 0.0 ? -inf : r;
  r = x < 0.0 ? std::numeric_limits<double>::quiet_NaN() : r;
  return x != x ? x : r;
}

// ---------------------------------------------------------------- log1p
// log1p(x) = log(u) * x / (u - 1) with u = 1 + x (Goldberg): the rounding
// error of u cancels in the ratio. Exact pass-through where u rounds to 1.
template <class T>
FL_INLINE T log1p(T x) {
  const T u = T(1) + x;
  const T d = u - T(1);
  const T r = log(u) * (x / (d == T(0) ? T(1) : d));
  const T inf = std::numeric_limits<T>::infinity();
  const T y = d == T(0) ? x : r;
  return x == inf ? inf : y;
}

// ---------------------------------------------------------------- logistic
// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), finite for finite x,
// exact limits at +-inf.
template <class T>
FL_INLINE T softplus(T x) {
  return vmax(x, T(0)) + log1p(exp(-vabs(x)));
}
// sigmoid(x) without overflow: e = e^-|x| in (0, 1].
template <class T>
FL_INLINE T sigmoid(T x) {
  const T e = exp(-vabs(x));
  const T r = T(1) / (T(1) + e);
  return x >= T(0) ? r : e * r;
}

}  // namespace vm
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
