// Micro-benchmark of fastloss's vector math against glibc's libmvec and
// scalar libm (driven and compiled by vmath_bench.py; see there).
//
// This one file is compiled several times:
//   -DVB_VARIANT=fastloss  vm::exp etc. from fastloss/common/vmath.hpp, with
//                          the library's flags at the avx2 level;
//   -DVB_VARIANT=fastloss_fma  the same source with -ffp-contract=fast: the
//                          compiler fuses a*b + c into FMA. Not what ships
//                          (see vmath_bench.py): it measures what the
//                          library's no-FMA rule costs;
//   -DVB_VARIANT=libmvec   std::exp etc. in an `omp simd` loop with
//                          -ffast-math -fopenmp-simd: GCC calls libmvec
//                          (_ZGVdN8v_expf, _ZGVdN4v_exp, ...);
//   -DVB_VARIANT=libm      the same loops without -ffast-math: scalar calls;
//   -DVB_MAIN              the timing driver.
#include <cstdint>

#define VB_FUNCS(X)                     \
  X(exp, float) X(exp, double)          \
  X(log, float) X(log, double)          \
  X(log1p, float) X(log1p, double)      \
  X(softplus, float) X(softplus, double) \
  X(sigmoid, float) X(sigmoid, double)

#define VB_DECL(fn, T) void fn##_##T(const T* x, T* y, int64_t n);

#if defined(VB_VARIANT)

#define VB_PRAGMA(x) _Pragma(#x)
#define VB_SIMD VB_PRAGMA(omp simd)

#if VB_IS_FASTLOSS
#include "fastloss/common/vmath.hpp"
namespace M = fastloss::FASTLOSS_ISA_NS::vm;
template <class T> static inline T f_exp(T x) { return M::exp(x); }
template <class T> static inline T f_log(T x) { return M::log(x); }
template <class T> static inline T f_log1p(T x) { return M::log1p(x); }
template <class T> static inline T f_softplus(T x) { return M::softplus(x); }
template <class T> static inline T f_sigmoid(T x) { return M::sigmoid(x); }
#else
#include <cmath>
template <class T> static inline T f_exp(T x) { return std::exp(x); }
template <class T> static inline T f_log(T x) { return std::log(x); }
template <class T> static inline T f_log1p(T x) { return std::log1p(x); }
// What a user writes with libm: log1p(exp(x)), 1/(1+exp(-x)).
template <class T> static inline T f_softplus(T x) { return std::log1p(std::exp(x)); }
template <class T> static inline T f_sigmoid(T x) { return T(1) / (T(1) + std::exp(-x)); }
#endif

namespace VB_VARIANT {
#define VB_DEF(fn, T)                                          \
  void fn##_##T(const T* __restrict__ x, T* __restrict__ y, int64_t n) { \
    VB_SIMD for (int64_t i = 0; i < n; ++i) y[i] = f_##fn(x[i]);          \
  }
VB_FUNCS(VB_DEF)
}  // namespace VB_VARIANT

#elif defined(VB_MAIN)

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace fastloss_v { VB_FUNCS(VB_DECL) }
namespace fastloss_fma_v { VB_FUNCS(VB_DECL) }
namespace libmvec_v { VB_FUNCS(VB_DECL) }
namespace libm_v { VB_FUNCS(VB_DECL) }

template <class T>
using Fn = void (*)(const T*, T*, int64_t);

// Inputs where each function is used in losses (and where libmvec takes
// its fast path): exp and the logistic on [-10, 10], log on [1e-3, 1e3]
// (log-uniform), log1p on [-0.9, 10].
template <class T>
static void fill(const std::string& fn, std::vector<T>& x) {
  std::mt19937_64 g(42);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (auto& v : x) {
    const double r = u(g);
    if (fn == "log") v = T(std::pow(10.0, -3.0 + 6.0 * r));
    else if (fn == "log1p") v = T(-0.9 + 10.9 * r);
    else v = T(-10.0 + 20.0 * r);
  }
}

template <class T>
static double median_gps(Fn<T> f, const std::vector<T>& x, std::vector<T>& y, int reps) {
  const int64_t n = static_cast<int64_t>(x.size());
  for (int i = 0; i < 3; ++i) f(x.data(), y.data(), n);  // warm up
  std::vector<double> gps;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f(x.data(), y.data(), n);
    const auto t1 = std::chrono::steady_clock::now();
    gps.push_back(n / std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  std::nth_element(gps.begin(), gps.begin() + gps.size() / 2, gps.end());
  return gps[gps.size() / 2];
}

template <class T>
static void bench(const char* fn, const char* type, Fn<T> a, Fn<T> b, Fn<T> c, Fn<T> d,
                  int64_t n, int reps) {
  std::vector<T> x(n), y(n);
  fill(fn, x);
  // Interleave the variants so drift in machine load hits all alike.
  std::vector<double> ga, gb, gc, gd;
  for (int round = 0; round < 5; ++round) {
    ga.push_back(median_gps(a, x, y, reps));
    gb.push_back(median_gps(b, x, y, reps));
    gc.push_back(median_gps(c, x, y, reps / 4 + 1));
    gd.push_back(median_gps(d, x, y, reps));
  }
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("%s %s %.4f %.4f %.4f %.4f\n", fn, type, med(ga), med(gb), med(gc), med(gd));
  std::fflush(stdout);
}

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 100000;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 41;
  const char* only = argc > 3 ? argv[3] : "";
#define VB_RUN(fn, T)                                                            \
  if (!*only || std::strcmp(only, #fn) == 0)                                     \
    bench<T>(#fn, #T, fastloss_v::fn##_##T, libmvec_v::fn##_##T, libm_v::fn##_##T,    \
             fastloss_fma_v::fn##_##T, n, reps);
  VB_FUNCS(VB_RUN)
  return 0;
}

#endif
