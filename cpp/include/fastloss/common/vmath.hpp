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
// and results, overflow/underflow thresholds, +-0, +-inf, NaN), and on denser
// sweeps (every 7th float32 bit pattern, 2e6 random float64), largest errors
// seen, float/double: exp 1.30/1.18, log 1.43/0.84, log1p 1.52/1.01,
// softplus 2.30/2.05, sigmoid 2.54/2.31 ulp. exp, the float log and log1p
// trade a little accuracy (they were within 1 ulp) for speed: a shorter
// polynomial for log (the largest errors are where k ln2 and log(z) nearly
// cancel), an early rounded 1 + r for exp.
// Speed: see benchmarks/micro/vmath_bench.py (against glibc's libmvec, which
// uses FMA and, for double, tables: without FMA, for the same bits at every
// ISA level, each polynomial step costs two instructions instead of one).
// What keeps the instruction count down, in GCC's output: no select before
// the arithmetic (GCC pushes a select of a constant, or a condition tested
// twice, through all the code after it and computes both arms), special
// values replaced by selects at the end -- bitwise ones (select below), which
// GCC cannot push into the code that uses the result -- the 2^n scaling in
// integers. What
// keeps the loops short in time: Estrin's scheme rather than Horner's (long
// chains of dependent operations stall the loop before the execution units
// are busy), and sign and range tests on the integer bits (-|x|, max(x, 0),
// log's special values) instead of float compares and blends, which compete
// with the multiplications.
// Special values follow C: exp(+inf)=inf, exp(-inf)=0, log(0)=-inf,
// log(<0)=NaN, log1p(-1)=-inf, log1p(<-1)=NaN, log1p(+-0)=+-0, NaN -> NaN.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "fastloss/common/config.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace vm {

// The bits of a float as an integer of the same size, and back (memcpy: the
// compiler emits a register move).
template <class To, class From>
FL_INLINE To bit_cast(From x) {
  static_assert(sizeof(To) == sizeof(From), "bit_cast between types of one size");
  To y;
  std::memcpy(&y, &x, sizeof y);
  return y;
}
FL_INLINE float bits_to_f(int32_t i) { return bit_cast<float>(i); }
FL_INLINE int32_t f_to_bits(float f) { return bit_cast<int32_t>(f); }
FL_INLINE double bits_to_d(int64_t i) { return bit_cast<double>(i); }
FL_INLINE int64_t d_to_bits(double f) { return bit_cast<int64_t>(f); }
FL_INLINE float ubits_to_f(uint32_t i) { return bit_cast<float>(i); }
FL_INLINE uint32_t f_to_ubits(float f) { return bit_cast<uint32_t>(f); }
FL_INLINE double ubits_to_d(uint64_t i) { return bit_cast<double>(i); }
FL_INLINE uint64_t d_to_ubits(double f) { return bit_cast<uint64_t>(f); }

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

// c ? a : b as bit operations. A plain ?: whose arm is a constant is a
// branch to GCC before vectorization: jump threading and PRE then copy all
// the code that uses the result into each arm (in it the constant folds),
// and the vectorized loop computes every copy -- log(exp(x)) cost three
// logs' worth of instructions. A select through the bits has no branch to
// thread; it costs an and/andn/or where a blend would be one instruction,
// so it is for results that feed further arithmetic.
template <class T>
FL_INLINE T select(bool c, T a, T b) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const U m = U(0) - static_cast<U>(c);
  return bit_cast<T>((bit_cast<U>(a) & m) | (bit_cast<U>(b) & ~m));
}

namespace detail {
// Round-to-nearest-integer adders: for |v| < 2^22 (float) / 2^51 (double),
// (v + magic) - magic is v rounded to an integer, and the low bits of
// bits(v + magic) hold that integer.
constexpr float kMagicF = 12582912.0f;            // 1.5 * 2^23
constexpr double kMagicD = 6755399441055744.0;    // 1.5 * 2^52
}  // namespace detail

// ---------------------------------------------------------------- exp
namespace detail {
// exp's two steps, shared by exp_core and the expm1 of robust.hpp (barron):
//   nf = exp_reduce(x, t, hi, tail): x = nf ln2 + r with exp(r) - 1 =
//     hi + tail (hi the leading part, r itself in float; tail the rest,
//     which adds no error of its own to hi), t holding nf for exp_scale;
//   exp_scale(t, s1, s2): 2^n as s1 s2 (see below).
// exp(x) = ((1 + hi) + tail) s1 s2: exp_core. Both steps are pure
// arithmetic on T, so inlined they compile to what one body did.
//
// float: x = n ln2 + r, |r| <= ln2/2 (Cody-Waite, ln2 in two parts, the
// first exact in n * 0.693359375); exp(r) = (1 + r) + r^2 P(r), P of degree 4
// (minimax for the relative error of exp, 0.07 ulp), Estrin's scheme.
// 1 + r rounds (1 + (r + r^2 P) would not, max error 0.99 instead of 1.30
// ulp) but is ready early: 4% faster, the loop being latency-bound.
// magic + 254: t - magic rounds x log2(e) to an integer n as with magic
// alone, and bits(t) = bits(kMagicF) + n + 254 (see exp_scale).
FL_INLINE float exp_reduce(float x, float& t, float& hi, float& tail) {
  const float magic = detail::kMagicF + 254.0f;
  t = x * 1.44269504088896341f + magic;
  const float nf = t - magic;
  float r = x - nf * 0.693359375f;  // exact: 0.693359375 has 9 bits
  r = r - nf * -2.12194440e-4f;
  const float r2 = r * r;
  const float p01 = 4.999999403953552e-1f + r * 1.666652113199234e-1f;
  const float p23 = 4.166838899254799e-2f + r * 8.368710055947304e-3f;
  const float p = (p01 + r2 * p23) + (r2 * r2) * 1.381461275741458e-3f;
  hi = r;
  tail = r2 * p;
  return nf;
}
// double: x = n ln2 + (hi - lo), |hi - lo| <= ln2/2 (fdlibm's reduction, ln2
// in two parts, hi exact); exp(r) = 1 + r + r^2 Q(r), Q of degree 9 fitted
// to (exp(r) - 1 - r) / r^2 on [-ln2/2, ln2/2] (Chebyshev fit, relative
// error of the approximation < 2e-17), evaluated by Estrin's scheme. No
// division. tail = r^2 Q - lo, so exp_core's (1 + hi) + tail rounds 1 + hi
// early (fdlibm's 1 + (hi - (lo - r^2 Q)) is 5% slower, max error 0.99
// instead of 1.18 ulp).
FL_INLINE double exp_reduce(double x, double& t, double& hi, double& tail) {
  const double magic = detail::kMagicD + 2046.0;  // see exp_scale
  t = x * 1.44269504088896338700e+00 + magic;
  const double nf = t - magic;
  hi = x - nf * 6.93147180369123816490e-01;  // exact
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
  tail = r2 * q - lo;
  return nf;
}
// 2^n as s1 s2 = 2^n1 2^n2, n1 = floor(n/2), n2 = n - n1, both normal for
// n in [-150, 129] (float) / [-1076, 1025] (double): e 2^n1 is exact and the
// second product rounds once (to a subnormal, 0 or inf where it must). In
// integers, float: a = bits(t) = 0x4b400000 + n + 254; a1 = a >> 1 =
// 0x25a00000 + n1 + 127 and a - a1 = 0x25a00000 + n2 + 127, whose low 9
// bits (n1 + 127, n2 + 127 in [52, 192]) are all that shifting them into
// the exponent field keeps. double: a = bits(t) = bits(kMagicD) + n + 2046;
// a1 = a >> 1 and a - a1 hold n1 + 1023 and n2 + 1023 (in [485, 1536]) in
// their low 12 bits, the rest of which the shift into the exponent field
// drops (bits(kMagicD) has 50 low zero bits).
template <class T>
FL_INLINE void exp_scale(T t, T& s1, T& s2) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  constexpr int kMant = sizeof(T) == 4 ? 23 : 52;  // mantissa bits
  const U a = bit_cast<U>(t);
  const U a1 = a >> 1;
  s1 = bit_cast<T>(static_cast<U>(a1 << kMant));
  s2 = bit_cast<T>(static_cast<U>((a - a1) << kMant));
}
// exp(x) for x in [-104, 88.8] (float) / [-746, 709.9] (double) or NaN (see
// exp below).
template <class T>
FL_INLINE T exp_core(T x) {
  T t, hi, tail, s1, s2;
  (void)exp_reduce(x, t, hi, tail);
  exp_scale(t, s1, s2);
  const T e = (T(1) + hi) + tail;
  return (e * s1) * s2;
}
}  // namespace detail

// exp: lanes outside [lo, hi] (and +-inf) get garbage from exp_core, which
// these selects replace; NaN fails both compares and propagates.
template <class T>
FL_INLINE T exp(T x) {
  const T lo = sizeof(T) == 4 ? T(-104.0) : T(-746.0);
  const T hi = sizeof(T) == 4 ? T(88.8) : T(709.9);
  T y = detail::exp_core(x);
  y = select(x > hi, std::numeric_limits<T>::infinity(), y);
  return select(x < lo, T(0), y);
}
// exp(x) for x <= 0 or NaN, e.g. a score less the row's maximum: the same
// bits as exp there, one select fewer (no overflow select).
template <class T>
FL_INLINE T exp_nonpos(T x) {
  const T lo = sizeof(T) == 4 ? T(-104.0) : T(-746.0);
  return select(x < lo, T(0), detail::exp_core(x));
}

// ---------------------------------------------------------------- log
namespace detail {
// float: log(z) + k ln2 + c for z = 1 + f = 2^-k u in [2/3, 4/3) (the range
// that split below gives: |f| <= 1/3, the smallest for a power-of-two
// reduction without tables), where c is a small correction (the rounding
// error of 1 + x, scaled, for log1p; none for log).
// log(1 + f) = f + f^2 P(f), P(f) = -1/2 + f Q(f), Q of degree 6 (minimax for
// the relative error of log(1 + f) on [-1/3, 1/3], coefficients rounded to
// float one at a time, lowest degree first, the rest refit after each:
// 0.62 * 2^-24), by Estrin's scheme: Horner's needs one multiplication less
// but its chain of 14 dependent operations made the loop 15% slower.
// ln2 in two parts, the first exact in k * 0.693359375, the second added to
// the small terms. The largest error, 1.43 ulp, is where k ln2 and log(z)
// nearly cancel (x just below 2/3 or above 4/3, log(x) ~ -0.405 or 0.288).
FL_INLINE float log_poly(float f, float f2) {
  const float p01 = -0.5f + f * 3.333326578140259e-1f;
  const float p23 = -2.500423789024353e-1f + f * 2.000793069601059e-1f;
  const float p45 = -1.647232323884964e-1f + f * 1.404215246438980e-1f;
  const float p67 = -1.512220054864883e-1f + f * 1.382092088460922e-1f;
  const float f4 = f2 * f2;
  return (p01 + f2 * p23) + f4 * (p45 + f2 * p67);
}
// kCorr = false (log): no correction term at all. Adding a zero one is not
// free: the compiler must keep it, since -0 + 0 = +0.
template <bool kCorr>
FL_INLINE float log_core_c(float f, float kf, float corr) {
  const float f2 = f * f;
  float lo = kf * -2.12194440e-4f;
  if constexpr (kCorr) lo = lo + corr;
  const float y = f2 * log_poly(f, f2) + lo;
  return (f + y) + kf * 0.693359375f;
}
FL_INLINE float log_core(float f, float kf, float corr) { return log_core_c<true>(f, kf, corr); }
FL_INLINE float log_core(float f, float kf) { return log_core_c<false>(f, kf, 0.0f); }

// fdlibm __ieee754_log's kernel: log(1+f) = f - f^2/2 + s (f^2/2 + R(s^2)),
// s = f / (2 + f), R of degree 7 in s^2. kCorr as for float.
template <bool kCorr>
FL_INLINE double log_core_c(double f, double kd, double corr) {
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
  double lo = kd * 1.90821492927058770002e-10;
  if constexpr (kCorr) lo = lo + corr;
  return kd * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + R) + lo)) - f);
}
FL_INLINE double log_core(double f, double kd, double corr) {
  return log_core_c<true>(f, kd, corr);
}
FL_INLINE double log_core(double f, double kd) { return log_core_c<false>(f, kd, 0.0); }

// float: split a positive finite normal x into 2^k z, z in [2/3, 4/3): z's
// bits are x's less k in the exponent field. adj is 0, or the bits by which
// x's exponent field was raised (subnormal inputs scaled), taken off k.
FL_INLINE float split(float x, float& kf, uint32_t adj = 0) {
  const uint32_t ix = f_to_ubits(x);
  const uint32_t t = ix - 0x3f2aaaabu;  // bits of 2/3, rounded up
  kf = static_cast<float>(static_cast<int32_t>(t - adj) >> 23);
  return ubits_to_f(ix - (t & 0xff800000u));
}
// double: split a positive finite normal x into 2^k z, z in [sqrt(1/2),
// sqrt(2)): z's bits are x's less k in the exponent field; k is returned as a
// double (exact), built with the magic number (no int64->double). sc is 1 or
// a power of two by which x was scaled (subnormal inputs): k is that of
// x / sc, taken from the bits at no extra select.
FL_INLINE double split(double x, double& kd, double sc = 1.0) {
  const uint64_t ix = d_to_ubits(x);
  const uint64_t t = ix - 0x3fe6a09e667f3bcdULL;  // bits of sqrt(1/2)
  // kb = k + 1087 >= 0 (k >= -1074 for subnormal x / sc), so a logical
  // shift does.
  const uint64_t kb = (t - d_to_ubits(sc) + (2110ULL << 52)) >> 52;
  kd = ubits_to_d(d_to_ubits(kMagicD) + kb) - (kMagicD + 1087.0);
  return ubits_to_d(ix - (t & 0xfff0000000000000ULL));
}
// Split u = 2^k z as above (float: z in [2/3, 4/3), double: in [sqrt(1/2),
// sqrt(2))) for log1p, and also return s = 2^(e - k), where sb holds the bits
// of 2^e: t & mask is k in the exponent field, so s costs one integer
// subtraction (e = 1 keeps s finite for every k log1p can see, -24 <= k <= 128
// in float and -54 <= k <= 1024 in double: 2^(1-128) and 2^(1-1024) are
// normal, 2^(1-k) at the low end as well).
FL_INLINE float split_s(float x, float& kf, float& s, uint32_t sb) {
  const uint32_t ix = f_to_ubits(x);
  const uint32_t t = ix - 0x3f2aaaabu;  // bits of 2/3, rounded up
  const uint32_t tk = t & 0xff800000u;
  kf = static_cast<float>(static_cast<int32_t>(t) >> 23);
  s = ubits_to_f(sb - tk);
  return ubits_to_f(ix - tk);
}
FL_INLINE double split_s(double x, double& kd, double& s, uint64_t sb) {
  const uint64_t ix = d_to_ubits(x);
  const uint64_t t = ix - 0x3fe6a09e667f3bcdULL;  // bits of sqrt(1/2)
  const uint64_t tk = t & 0xfff0000000000000ULL;
  // k >= -54 here (log1p's u >= 2^-53), kb = k + 1087 >= 0
  const uint64_t kb = (t + (1087ULL << 52)) >> 52;
  kd = ubits_to_d(d_to_ubits(kMagicD) + kb) - (kMagicD + 1087.0);
  s = ubits_to_d(sb - tk);
  return ubits_to_d(ix - tk);
}
}  // namespace detail

namespace detail {
// log's special values: r (the core's result) where x is in (0, inf).
// Float: in one select at the end, off the critical path: x is not in
// (0, inf) exactly when bits(x) + 0x7fffffff, as a signed integer, is above
// that of the largest finite float (libmvec's test). Then the result is x
// (+inf, NaN), -inf (+-0) or NaN (x < 0).
FL_INLINE float log_special(float x, float r) {
  const float inf = std::numeric_limits<float>::infinity();
  float sv = x == 0.0f ? -inf : x;
  sv = x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : sv;
  const int32_t v = static_cast<int32_t>(f_to_ubits(x) + 0x7fffffffu);
  return v > -0x800002 ? sv : r;  // both arms computed: no constant to thread
}
FL_INLINE double log_special(double x, double r) {
  const double inf = std::numeric_limits<double>::infinity();
  r = select(x < inf, r, x);  // +inf and NaN
  r = select(x == 0.0, -inf, r);
  return select(x < 0.0, std::numeric_limits<double>::quiet_NaN(), r);
}
// log1p's special values: r where x is in (-1, inf) and not +-0 (NaN needs
// no select: r is NaN already, see log1p); u = 1 + x.
template <class T>
FL_INLINE T log1p_special(T x, T u, T r) {
  const T inf = std::numeric_limits<T>::infinity();
  r = select(x == inf, inf, r);
  r = select(u == T(0), -inf, r);
  r = select(x < T(-1), std::numeric_limits<T>::quiet_NaN(), r);
  return select(x == T(0), x, r);
}

FL_INLINE float log_impl(float x) {
  // Subnormal x (and x <= 0, whose result is replaced) is scaled by 2^24 and
  // 24 taken off k; the condition is an integer compare of the bits.
  const int32_t ix = f_to_bits(x);
  const bool sub = ix < 0x00800000;
  const float xs = sub ? x * 16777216.0f : x;
  const uint32_t adj = sub ? (24u << 23) : 0u;
  float kf;
  const float z = split(xs, kf, adj);
  const float r = log_core(z - 1.0f, kf);  // z - 1 is exact
  return log_special(x, r);
}
FL_INLINE double log_impl(double x) {
  // Subnormal x (and x <= 0, whose result is replaced) is scaled by 2^54;
  // split takes the scale's exponent off k (one select: a second one on the
  // same condition would make GCC duplicate the code between them).
  const double sc = select(x < std::numeric_limits<double>::min(), 18014398509481984.0, 1.0);
  double k;
  const double z = split(x * sc, k, sc);
  return log_special(x, log_core(z - 1.0, k));  // z - 1 is exact
}
}  // namespace detail
template <class T>
FL_INLINE T log(T x) {
  return detail::log_impl(x);
}
// log(x) for x normal and positive, +inf or NaN, e.g. a sum of exps whose
// largest term is 1: the same bits as log there, without log's scaling of
// subnormal x and its selects for zero and negative x (a third of float
// log's instructions, and the head of its chain of dependent ones).
template <class T>
FL_INLINE T log_normal(T x) {
  T k;
  const T z = detail::split(x, k);  // log_impl's split, with nothing to scale
  // +inf and NaN come back as they are, as from log
  return select(x < std::numeric_limits<T>::infinity(), detail::log_core(z - T(1), k), x);
}

// ---------------------------------------------------------------- log1p
// log1p(x) = log(u) + c / u with u = 1 + x rounded and c = (1 + x) - u its
// rounding error: c = x - (u - 1), exact while u - 1 is (u <= 2^24 in float,
// 2^53 in double); above, the computed c is off by at most 3, which moves the
// result by < 0.15 ulp, and 0 once u = x (then c / u < 2^-24 is lost in the
// rounding anyway). c / u is added to log's low-order terms: one log's cost,
// no extra division: c / u = (c 2^-k) / z, and 1/z = 1/(1+f) is replaced by
// 1 - f (relative error f^2/(1+f) <= 1/6 at f = -1/3, which moves the result
// by < 0.2 ulp since |c 2^-k| <= ulp(z)/2). 2^-k comes from split's bits as
// 2^(1-k) (finite for every k, see split_s), the 1/2 in (1 - f)/2. u >= 0 is
// never subnormal. x = +-0 and tiny x come back exactly (u = 1, z = 1, f = 0,
// the result is (x 2) 0.5).
namespace detail {
// log1p's result before its special values, u = 1 + x rounded.
template <class T>
FL_INLINE T log1p_core(T x, T u) {
  const T c = x - (u - T(1));
  T k, sc;
  const T z = split_s(u, k, sc, sizeof(T) == 4 ? 0x40000000u : 0x4000000000000000ULL);
  const T f = z - T(1);  // exact
  const T corr = (c * sc) * (T(0.5) - T(0.5) * f);
  return log_core(f, k, corr);
}
}  // namespace detail
template <class T>
FL_INLINE T log1p(T x) {
  const T u = T(1) + x;
  // NaN needs no select: c, hence f and r, are NaN already.
  return detail::log1p_special(x, u, detail::log1p_core(x, u));
}

// ------------------------------------------------ log1p(p) - log1p(t)
// d = log1p(p) - log1p(t) = log(u / v), u = 1 + p, v = 1 + t, for p, t > -1
// (or NaN, +inf; callers refuse <= -1), as 2 atanh(s) + K ln2 with
// s = (u - v) / (u + v): one division and one short polynomial instead of
// two logs, and no cancellation where p and t are close -- the difference
// of two log1p loses every digit there (1e9 ulp on the tests' pairs).
//   near (|s| <= 1/3, i.e. u / v in [1/2, 2]): s = (p - t) / (u + v), K = 0;
//     p - t keeps the digits that rounding 1 + p and 1 + t drops;
//   far: u' = 2^-K u, K the difference of u's and v's exponent fields
//     (integer operations on the bits), so u' is in v's binade: s = (u' -
//     v) / (u' + v) (u' - v exact, u' / v in (1/2, 2)); there |d| >= ln 2
//     and |K ln2| <= 2 |d|, so the rounding of u and v costs little.
// The quotient is q = 2s, over u/2 + v/2 (no overflow for any finite u, v:
// near stays near up to the largest floats). 2 atanh(s) = q + q w h(w),
// w = q^2 <= 4/9, h(w) = g(w/4)/4 with 2 atanh(s) = 2s + 2s z g(z), z = s^2:
// g of degree 3 in float (fit for the relative error of d by Lawson's
// iteration, coefficients rounded to float one at a time, the rest refit:
// 0.08 ulp), 9 in double (mpmath chebyfit on [0, 0.1115]: 0.05 ulp); the
// division by powers of 4 is exact. K ln2 in two parts as in log.
// Largest errors seen: float 2.93, double 2.50 ulp on tests/test_vmath.py's
// pairs (DIFF_BOUND there), 3.19 and 2.61 on 5x as many from other seeds;
// they come from q's roundings in the near regime (p - t, u/2 + v/2, the
// quotient). A zero d is +0 (K ln2 is added to it).
// Two stages (PointLoss::staged): the quotient and K, then the polynomial.
template <class T>
struct QuotK {
  T q, k;
};
template <class T>
FL_INLINE QuotK<T> log1p_diff_stage(T p, T t) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  constexpr int kM = sizeof(T) == 4 ? 23 : 52;  // mantissa bits
  const T u = T(1) + p, v = T(1) + t;
  const T hu = T(0.5) * u, hv = T(0.5) * v;
  const T nn = p - t, hd = hu + hv;
  // u, v > 0: the exponent fields are the bits above the mantissa
  const U bu = bit_cast<U>(u);
  const I e = static_cast<I>(bu >> kM) - static_cast<I>(bit_cast<U>(v) >> kM);
  const T uf = bit_cast<T>(U(bu - (static_cast<U>(e) << kM)));
  T k;
  if constexpr (sizeof(T) == 4) {
    k = static_cast<float>(e);
  } else {  // int64 -> double with the magic number (|e| < 2^11)
    k = ubits_to_d(d_to_ubits(detail::kMagicD) + static_cast<uint64_t>(e)) - detail::kMagicD;
  }
  const bool far = vabs(nn) > hd * T(2.0 / 3.0);  // NaN fails: near, p - t carries it
  const T num = select(far, uf - v, nn);
  const T den = select(far, T(0.5) * uf + hv, hd);
  return {num / den, select(far, k, T(0))};
}
namespace detail {
FL_INLINE float atanh2_poly(float w) {  // h(w), see above
  const float w2 = w * w;
  return (3.33332062e-1f / 4 + w * (2.00109005e-1f / 16)) +
         w2 * (1.39983401e-1f / 64 + w * (1.40199959e-1f / 256));
}
FL_INLINE double atanh2_poly(double w) {
  const double w2 = w * w, w4 = w2 * w2, w8 = w4 * w4;
  const double p01 = 0.3333333333333333 / 4 + w * (0.2000000000000754 / 16);
  const double p23 = 0.14285714283488848 / 64 + w * (0.11111111365331718 / 256);
  const double p45 = 0.0909089438578677 / 1024 + w * (0.07692794344758955 / 4096);
  const double p67 = 0.06656919636656726 / 16384 + w * (0.06001984415824347 / 65536);
  const double p89 = 0.043929840686624415 / 262144 + w * (0.08097659616214647 / 1048576);
  return ((p01 + w2 * p23) + w4 * (p45 + w2 * p67)) + w8 * p89;
}
}  // namespace detail
template <class T>
FL_INLINE T log1p_diff_finish(T p, T t, QuotK<T> s) {
  const T w = s.q * s.q;
  const T base = s.q + (s.q * w) * detail::atanh2_poly(w);
  const T lo = sizeof(T) == 4 ? T(-2.12194440e-4) : T(1.90821492927058770002e-10);
  const T hi = sizeof(T) == 4 ? T(0.693359375) : T(6.93147180369123816490e-01);
  const T d = (base + s.k * lo) + s.k * hi;
  // +inf: p - t is +inf, -inf or NaN (both), as log1p(p) - log1p(t); a NaN
  // p or t made d NaN already
  return select(vmax(p, t) == std::numeric_limits<T>::infinity(), p - t, d);
}
template <class T>
FL_INLINE T log1p_diff(T p, T t) {
  return log1p_diff_finish(p, t, log1p_diff_stage(p, t));
}

// lg ? log(p) : log1p(-p) for p in [0, 1] (or NaN), with the bits of each,
// for the cost of one: binary cross-entropy with a 0/1 target needs only
// the log of the probability the target names. It is log1p(-p) computed on
// u = p, c = 0 where lg (u = 1 + (-p) rounded, c its rounding error
// elsewhere), with log's scaling of a subnormal u (log1p's u is never
// subnormal) and each function's special values. With c = 0 the
// correction term is +0, which changes no bit of log: added to lo = k ln2_lo
// it matters only where that is -0 (float, k = 0), and then only for z = 1,
// where both give +0.
template <class T>
FL_INLINE T log_or_log1p_neg(T p, bool lg) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  constexpr bool kF = sizeof(T) == 4;
  const T x = -p;
  const T u1 = T(1) + x;
  const T u = select(lg, p, u1);
  const T c = select(lg, T(0), x - (u1 - T(1)));
  // log's subnormal scaling (and the same k, z and 2^(1-k) as split_s
  // where there is none)
  const T scl = select(u < std::numeric_limits<T>::min(), kF ? T(16777216.0) : T(18014398509481984.0),
                       T(1));
  const U iu = bit_cast<U>(u * scl);
  const U t = iu - (kF ? U(0x3f2aaaabu) : U(0x3fe6a09e667f3bcdULL));
  const U mask = kF ? U(0xff800000u) : U(0xfff0000000000000ULL);
  const U tk = t & mask;
  T k;
  if constexpr (kF) {
    const uint32_t adj = f_to_ubits(scl) - 0x3f800000u;  // 24 << 23 when scaled
    k = static_cast<float>(static_cast<int32_t>(t - adj) >> 23);
  } else {
    const uint64_t kb = (t - d_to_ubits(scl) + (2110ULL << 52)) >> 52;
    k = ubits_to_d(d_to_ubits(detail::kMagicD) + kb) - (detail::kMagicD + 1087.0);
  }
  const T z = bit_cast<T>(U(iu - tk));
  const T sc = bit_cast<T>(U((kF ? U(0x40000000u) : U(0x4000000000000000ULL)) - tk));
  const T f = z - T(1);
  const T corr = select(lg, T(0), (c * sc) * (T(0.5) - T(0.5) * f));
  const T r = detail::log_core(f, k, corr);
  return select(lg, detail::log_special(p, r), detail::log1p_special(x, u1, r));
}

// ---------------------------------------------------------------- logistic
namespace detail {
// log1p(e) for e in [0, 1] (or NaN), as log1p above without its special
// cases: u = 1 + e is in [1, 2], so c = e - (u - 1) is exact, k is 0 or 1
// and 2^-k is taken from split's bits as it is.
template <class T>
FL_INLINE T log1p_01(T e) {
  const T u = T(1) + e;
  const T c = e - (u - T(1));
  T k, sc;
  const T z = split_s(u, k, sc, sizeof(T) == 4 ? 0x3f800000u : 0x3ff0000000000000ULL);
  const T f = z - T(1);
  const T corr = (c * sc) * (T(1) - f);
  return log_core(f, k, corr);
}
}  // namespace detail

namespace detail {
// -|x| and max(x, 0) in integer operations on the bits (a float compare and
// blend would use the multiplier pipes the polynomials need). max(NaN, 0)
// may be 0 or NaN: its callers get NaN from the other term.
FL_INLINE float negabs(float x) { return ubits_to_f(f_to_ubits(x) | 0x80000000u); }
FL_INLINE double negabs(double x) { return ubits_to_d(d_to_ubits(x) | 0x8000000000000000ULL); }
FL_INLINE float pospart(float x) {
  const int32_t i = f_to_bits(x);
  return bits_to_f(i < 0 ? 0 : i);
}
FL_INLINE double pospart(double x) {
  const int64_t i = d_to_bits(x);
  return bits_to_d(i < 0 ? 0 : i);
}
}  // namespace detail

// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), finite for finite x,
// exact limits at +-inf.
template <class T>
FL_INLINE T softplus(T x) {
  return detail::pospart(x) + detail::log1p_01(exp_nonpos(detail::negabs(x)));
}
// sigmoid(x) without overflow: e = e^-|x| in (0, 1], one division.
template <class T>
FL_INLINE T sigmoid(T x) {
  const T e = exp_nonpos(detail::negabs(x));
  return (x >= T(0) ? T(1) : e) / (T(1) + e);
}

}  // namespace vm
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
