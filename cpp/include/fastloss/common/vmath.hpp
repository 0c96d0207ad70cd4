// fastloss/common/vmath.hpp -- exp, log, log1p and the logistic helpers that
// loss loops call, written so compilers vectorize them.
//
// Why our own: a call to libm inside a loop stops vectorization (0.045 G
// elements/s for scalar log1p(exp(x)) on the reference machine), and libmvec
// is glibc-only and does not give the same bits on every ISA. These functions
// are branch-free (selects, no calls, no tables), use only +,-,*,/ and bit
// moves, so with -ffp-contract=off they return the same bits at every vector
// width. Every integer step is one AVX2 has in vector form (32-bit and 64-bit
// add/sub/and/logical shifts, int32<->float): no double<->int64 conversion and
// no 64-bit arithmetic shift, which only AVX-512 has and which would make GCC
// fall back to scalar code. Integers reach doubles through the 1.5*2^52
// "magic number": bits(magic + n) = bits(magic) + n for small integers n.
//
// Accuracy, measured by tests/test_vmath.py against the C library and a
// float64/exact reference over the whole range (normal and subnormal inputs
// and results, overflow/underflow thresholds, +-0, +-inf, NaN):
//   exp <= 1 ulp, log <= 1 ulp, log1p <= 1 ulp, softplus <= 2 ulp,
//   sigmoid <= 2.5 ulp, in float and double alike (largest errors seen on
//   the test sweeps, float/double: exp 0.97/0.95, log 0.81/0.84, log1p
//   0.88/0.87, softplus 1.59/1.58, sigmoid 2.25/2.19).
// Speed at avx2 (benchmarks/micro/vmath_bench.py): 3-17x scalar libm, but
// below glibc's libmvec (0.5-0.95x), which uses FMA and tables; without FMA
// (bitwise equality across ISAs) and without tables that gap remains.
// Special values follow C: exp(+inf)=inf, exp(-inf)=0, log(0)=-inf,
// log(<0)=NaN, log1p(-1)=-inf, log1p(<-1)=NaN, log1p(+-0)=+-0, NaN -> NaN.
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
FL_INLINE float ubits_to_f(uint32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
FL_INLINE uint32_t f_to_ubits(float f) {
  uint32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}
FL_INLINE double ubits_to_d(uint64_t i) {
  double f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
FL_INLINE uint64_t d_to_ubits(double f) {
  uint64_t i;
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

namespace detail {
// Round-to-nearest-integer adders: for |v| < 2^22 (float) / 2^51 (double),
// (v + magic) - magic is v rounded to an integer, and the low bits of
// bits(v + magic) hold that integer.
constexpr float kMagicF = 12582912.0f;            // 1.5 * 2^23
constexpr double kMagicD = 6755399441055744.0;    // 1.5 * 2^52

// 2^n for an integer-valued nf with -126 <= n <= 127: the low 9 bits of
// bits(nf + magic + 127) are n + 127 (magic's are zero); shifted into the
// exponent field they give 2^n.
FL_INLINE float pow2i(float nf) {
  return ubits_to_f(f_to_ubits(nf + (kMagicF + 127.0f)) << 23);
}
// 2^n for an integer-valued nf with -1022 <= n <= 1023.
FL_INLINE double pow2i(double nf) {
  return ubits_to_d(d_to_ubits(nf + (kMagicD + 1023.0)) << 52);
}
}  // namespace detail

// ---------------------------------------------------------------- exp
FL_INLINE float exp(float x) {
  // Cephes expf: x = n ln2 + r, |r| <= ln2/2, exp(r) = 1 + r + r^2 P(r),
  // P of degree 5 (Estrin's scheme). The clamps (maxps/minps;
  // NaN passes them and propagates through the arithmetic) keep n in
  // [-150, 129]; from there the scaling overflows to inf / underflows to 0
  // by itself.
  float xc = x < -104.0f ? -104.0f : x;
  xc = xc > 88.8f ? 88.8f : xc;
  const float magic = detail::kMagicF;
  const float t = xc * 1.44269504088896341f + magic;
  const float nf = t - magic;
  float r = xc - nf * 0.693359375f;  // exact: 0.693359375 has 9 bits
  r = r - nf * -2.12194440e-4f;
  const float r2 = r * r;
  const float p01 = 5.0000001201e-1f + r * 1.6666665459e-1f;
  const float p23 = 4.1665795894e-2f + r * 8.3334519073e-3f;
  const float p45 = 1.3981999507e-3f + r * 1.9875691500e-4f;
  const float p = (p01 + r2 * p23) + (r2 * r2) * p45;
  const float e = (r + r2 * p) + 1.0f;
  // 2^n = 2^(n+a) 2^-a with a = 24 for n < 0, a = -1 otherwise, so 2^(n+a)
  // is a normal float for n in [-150, 128]: e 2^(n+a) is exact and the
  // second product rounds once (to a subnormal, 0 or inf where it must).
  const bool neg = nf < 0.0f;
  const float s1 = detail::pow2i(nf + (neg ? 24.0f : -1.0f));
  return (e * s1) * (neg ? 5.9604644775390625e-8f : 2.0f);
}

FL_INLINE double exp(double x) {
  // x = n ln2 + (hi - lo), |hi - lo| <= ln2/2 (fdlibm's reduction, ln2 in
  // two parts, hi exact); exp(r) = 1 + r + r^2 Q(r), Q of degree 9 fitted to
  // (exp(r) - 1 - r) / r^2 on [-ln2/2, ln2/2] (Chebyshev fit, relative error
  // of the approximation < 2e-17), evaluated by Estrin's scheme. No division.
  double xc = x < -746.0 ? -746.0 : x;  // as in float: NaN passes
  xc = xc > 709.9 ? 709.9 : xc;
  const double magic = detail::kMagicD;
  const double nf = (xc * 1.44269504088896338700e+00 + magic) - magic;
  const double hi = xc - nf * 6.93147180369123816490e-01;  // exact
  const double lo = nf * 1.90821492927058770002e-10;
  const double r = hi - lo;
  const double r2 = r * r;
  const double r4 = r2 * r2;
  const double r8 = r4 * r4;
  const double p01 = 0.5000000000000001 + r * 0.16666666666666669;
  const double p23 = 0.04166666666662413 + r * 0.008333333333330062;
  const double p45 = 0.0013888888917213717 + r * 0.00019841269863053618;
  const double p67 = 2.4801521295954376e-05 + r * 2.7557268459997064e-06;
  const double p89 = 2.7620088445409746e-07 + r * 2.510038549551032e-08;
  const double q = ((p01 + r2 * p23) + r4 * (p45 + r2 * p67)) + r8 * p89;
  const double e = 1.0 + (hi - (lo - r2 * q));
  // 2^n = 2^(n+a) 2^-a with a = 54 for n < 0, a = -1 otherwise: 2^(n+a) is
  // normal for n in [-1076, 1024], e 2^(n+a) is exact and the second product
  // rounds once (to a subnormal, to 0 below -745.13 - ln2/2, to inf above
  // 709.78).
  const bool neg = nf < 0.0;
  const double s1 = detail::pow2i(nf + (neg ? 54.0 : -1.0));
  return (e * s1) * (neg ? 5.5511151231257827e-17 : 2.0);
}

// ---------------------------------------------------------------- log
namespace detail {
// log(z + c) for z = 2^-k u in [sqrt(1/2), sqrt(2)), plus k ln2, where c is a
// small correction (0 for log; the rounding error of 1 + x, scaled, for
// log1p). Cephes logf's polynomial in f = z - 1 + c.
FL_INLINE float log_core(float f, float kf, float corr) {
  const float z = f * f;
  // Estrin on the degree-8 polynomial of Cephes logf.
  const float p01 = 3.3333331174e-1f + f * -2.4999993993e-1f;
  const float p23 = 2.0000714765e-1f + f * -1.6668057665e-1f;
  const float p45 = 1.4249322787e-1f + f * -1.2420140846e-1f;
  const float p67 = 1.1676998740e-1f + f * -1.1514610310e-1f;
  const float z2 = z * z;
  const float p = ((p01 + z * p23) + z2 * (p45 + z * p67)) + (z2 * z2) * 7.0376836292e-2f;
  float y = p * f * z;
  y = y + (kf * -2.12194440e-4f + corr);
  y = y - 0.5f * z;
  float r = f + y;
  return r + kf * 0.693359375f;
}

// fdlibm __ieee754_log's kernel: log(1+f) = f - f^2/2 + s (f^2/2 + R(s^2)),
// s = f / (2 + f), R of degree 7 in s^2.
FL_INLINE double log_core(double f, double kd, double corr) {
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
  return kd * 6.93147180369123816490e-01 -
         ((hfsq - (s * (hfsq + R) + (kd * 1.90821492927058770002e-10 + corr))) - f);
}

// Split a positive finite normal x into 2^k z, z in [sqrt(1/2), sqrt(2)):
// z's bits are x's less k in the exponent field; k is returned as a float
// or double (exact), built with the magic number (no int64->double).
FL_INLINE float split(float x, float& kf) {
  const uint32_t ix = f_to_ubits(x);
  const uint32_t t = ix - 0x3f3504f3u;  // bits of sqrt(1/2)
  kf = static_cast<float>(static_cast<int32_t>(t) >> 23);
  return ubits_to_f(ix - (t & 0xff800000u));
}
FL_INLINE double split(double x, double& kd) {
  const uint64_t ix = d_to_ubits(x);
  const uint64_t t = ix - 0x3fe6a09e667f3bcdULL;  // bits of sqrt(1/2)
  // k + 1023 >= 0 for every positive normal x, so a logical shift does.
  const uint64_t kb = (t + (1023ULL << 52)) >> 52;
  kd = ubits_to_d(d_to_ubits(kMagicD) + kb) - (kMagicD + 1023.0);
  return ubits_to_d(ix - (t & 0xfff0000000000000ULL));
}
}  // namespace detail

template <class T>
FL_INLINE T log(T x) {
  // Subnormal x (and x <= 0, whose result is replaced) is scaled by 2^24/2^54.
  const bool sub = x < std::numeric_limits<T>::min();
  const T big = sizeof(T) == 4 ? T(16777216.0) : T(18014398509481984.0);
  const T xs = sub ? x * big : x;
  T k;
  const T z = detail::split(xs, k);
  k = k - (sub ? (sizeof(T) == 4 ? T(24) : T(54)) : T(0));
  T r = detail::log_core(z - T(1), k, T(0));  // z - 1 is exact
  const T inf = std::numeric_limits<T>::infinity();
  r = x == inf ? inf : r;
  r = x == T(0) ? -inf : r;
  return x >= T(0) ? r : std::numeric_limits<T>::quiet_NaN();  // x < 0 or NaN
}

// ---------------------------------------------------------------- log1p
// log1p(x) = log(u) + c / u with u = 1 + x rounded and c = (1 + x) - u its
// rounding error, exact (x - (u - 1) for u < 2, 1 - (u - x) above). c / u is
// added to log's low-order terms: one log's cost, no extra division. u >= 0
// is never subnormal. x = +-0 and tiny x come back exactly.
template <class T>
FL_INLINE T log1p(T x) {
  const T u = T(1) + x;
  const T c = u < T(2) ? x - (u - T(1)) : T(1) - (u - x);
  T k;
  const T z = detail::split(u, k);
  // log(1 + x) = log(u) + c / u; c / u = (c 2^-k) / z and 1/z = 1/(1+f) is
  // replaced by (1 - f)(1 + f^2), relative error f^4 <= 3%, which moves the
  // result by < 0.1 ulp since |c 2^-k| <= ulp(z)/2. 2^-k has k capped where c
  // no longer matters (u >= 2^60).
  const T f = z - T(1);  // exact
  const T kc = vmin(k, T(60));
  const T corr = (c * detail::pow2i(-kc)) * ((T(1) - f) * (T(1) + f * f));
  T r = detail::log_core(f, k, corr);
  const T inf = std::numeric_limits<T>::infinity();
  r = x == inf ? inf : r;
  r = u == T(0) ? -inf : r;
  r = x < T(-1) ? std::numeric_limits<T>::quiet_NaN() : r;
  // NaN needs no select: c, hence f and r, are NaN already.
  return x == T(0) ? x : r;
}

// ---------------------------------------------------------------- logistic
// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), finite for finite x,
// exact limits at +-inf.
template <class T>
FL_INLINE T softplus(T x) {
  return vmax(x, T(0)) + log1p(exp(-vabs(x)));
}
// sigmoid(x) without overflow: e = e^-|x| in (0, 1], one division.
template <class T>
FL_INLINE T sigmoid(T x) {
  const T e = exp(-vabs(x));
  return (x >= T(0) ? T(1) : e) / (T(1) + e);
}

}  // namespace vm
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
