// What FMA would cost fastloss's vector math under its same-bits rule
// (driven and compiled by fma_cost.py; see there).
//
// exp(float) is written once with explicit fused multiply-adds (the
// polynomial of vm::exp's float core in Horner form, the reduction fused as
// libmvec does). fma_f is the hardware instruction where the target has one
// (-march=x86-64-v3) and otherwise an exact software FMA, so that the
// baseline build returns the same bits as the AVX2 one -- what the rule
// that every ISA level gives the same bits (DESIGN.md) would demand of an
// FMA-using vm::exp. The software FMA: a*b is exact in double (24 + 24
// bits); s = a*b + c rounded to double and its error e (TwoSum); s rounded
// to odd (moved one ulp toward e where e != 0 and s is even); then rounded
// to float: with 53 >= 24 + 2 bits, round-to-odd then round-to-nearest is
// the correctly rounded result (Boldo & Melquiond, "Emulation of FMA and
// correctly rounded sums: proved algorithms using rounding to odd", IEEE
// TC 2008). Integer steps only in forms SSE2 has (no 64-bit compare or
// arithmetic shift), so the baseline loop vectorizes.
//
//   -DFC_PART=1 -DFC_NS=...  the kernels (compiled at each level)
//   -DFC_MAIN                the driver: checks the software FMA against the
//                            hardware on 2e8 inputs, then times both levels.
#include <cstdint>
#include <cstring>

#if defined(FC_PART)
#include "fastloss/common/vmath.hpp"

namespace FC_NS {
using fastloss::FASTLOSS_ISA_NS::vm::bit_cast;

#if defined(__FMA__)
__attribute__((always_inline)) inline float fma_f(float a, float b, float c) {
  return __builtin_fmaf(a, b, c);
}
#else
__attribute__((always_inline)) inline float fma_f(float a, float b, float c) {
  const double p = double(a) * double(b);  // exact
  const double cd = double(c);
  const double s = p + cd;
  const double bb = s - p;
  const double e = (p - (s - bb)) + (cd - bb);  // s + e == p + c exactly
  uint64_t bs = bit_cast<uint64_t>(s);
  const uint64_t em = bit_cast<uint64_t>(e) << 1;
  const uint64_t inexact = (em | (0 - em)) >> 63;     // e != 0
  const uint64_t inc = inexact & ~bs & 1u;            // ... and s even
  const uint64_t neg = (bit_cast<uint64_t>(e) ^ bs) >> 63;  // e points toward 0
  bs += inc - ((inc & neg) << 1);                     // one ulp toward s + e
  return float(bit_cast<double>(bs));
}
#endif

__attribute__((always_inline)) inline float exp_fma(float x) {
  const float magic = 12582912.0f + 254.0f;
  const float t = fma_f(x, 1.44269504088896341f, magic);
  const float nf = t - magic;
  float r = fma_f(nf, -0.693359375f, x);
  r = fma_f(nf, 2.12194440e-4f, r);
  float p = fma_f(r, 1.381461275741458e-3f, 8.368710055947304e-3f);
  p = fma_f(p, r, 4.166838899254799e-2f);
  p = fma_f(p, r, 1.666652113199234e-1f);
  p = fma_f(p, r, 4.999999403953552e-1f);
  p = fma_f(p, r, 1.0f);
  const float e = fma_f(p, r, 1.0f);
  // vm::exp's two-step scaling and special values
  const uint32_t a = bit_cast<uint32_t>(t);
  const uint32_t a1 = a >> 1;
  const float y = (e * bit_cast<float>(a1 << 23)) * bit_cast<float>((a - a1) << 23);
  namespace vm = fastloss::FASTLOSS_ISA_NS::vm;
  return vm::select(x < -104.0f, 0.0f,
                    vm::select(x > 88.8f, __builtin_inff(), y));
}
}  // namespace FC_NS

extern "C" {
#define FC_CAT2(a, b) a##b
#define FC_CAT(a, b) FC_CAT2(a, b)
void FC_CAT(FC_NS, _fma)(const float* a, const float* b, const float* c, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = FC_NS::fma_f(a[i], b[i], c[i]);
}
void FC_CAT(FC_NS, _exp_fma)(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = FC_NS::exp_fma(x[i]);
}
void FC_CAT(FC_NS, _exp_now)(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = fastloss::FASTLOSS_ISA_NS::vm::exp(x[i]);
}
}

#elif defined(FC_MAIN)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#define FC_DECL(ns)                                                                 \
  extern "C" void ns##_fma(const float*, const float*, const float*, float*, int64_t); \
  extern "C" void ns##_exp_fma(const float*, float*, int64_t);                    \
  extern "C" void ns##_exp_now(const float*, float*, int64_t);
FC_DECL(base)
FC_DECL(avx2)

using Fn = void (*)(const float*, float*, int64_t);

static double median_gps(Fn f, const std::vector<float>& x, std::vector<float>& y, int reps) {
  std::vector<double> g;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f(x.data(), y.data(), static_cast<int64_t>(x.size()));
    const auto t1 = std::chrono::steady_clock::now();
    g.push_back(x.size() / std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  std::nth_element(g.begin(), g.begin() + g.size() / 2, g.end());
  return g[g.size() / 2];
}

static bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

int main() {
  // 1. the software FMA against the hardware: random bit patterns, operands
  // of nearby exponents (long carries, cancellation), and exact products
  // against a c that cancels their high part (ties, for the round to odd)
  const int64_t n = 1 << 22;
  std::vector<float> a(n), b(n), c(n), y1(n), y2(n);
  std::mt19937 g(3);
  int64_t bad = 0, total = 0;
  for (int rep = 0; rep < 48; ++rep) {
    for (int64_t i = 0; i < n; ++i) {
      uint32_t u = g(), v = g(), w = g();
      if (rep % 3 == 1) {
        u = (u & 0x807fffffu) | (((u >> 23) % 40 + 107) << 23);
        v = (v & 0x807fffffu) | (((v >> 23) % 40 + 107) << 23);
        w = (w & 0x807fffffu) | (((w >> 23) % 60 + 97) << 23);
      }
      std::memcpy(&a[i], &u, 4);
      std::memcpy(&b[i], &v, 4);
      std::memcpy(&c[i], &w, 4);
      if (rep % 3 == 2) {
        const uint32_t au = u & 0xfffff000u, bu = 0x3f800000u | (v & 0x7ffu);
        std::memcpy(&a[i], &au, 4);
        std::memcpy(&b[i], &bu, 4);
        c[i] = -static_cast<float>(static_cast<double>(a[i]) * b[i]) * (1.0f + 0x1p-23f * (w & 3));
      }
    }
    base_fma(a.data(), b.data(), c.data(), y1.data(), n);
    avx2_fma(a.data(), b.data(), c.data(), y2.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      uint32_t p, q;
      std::memcpy(&p, &y1[i], 4);
      std::memcpy(&q, &y2[i], 4);
      if (p != q && !(y1[i] != y1[i] && y2[i] != y2[i])) ++bad;
    }
    total += n;
  }
  std::printf("software FMA vs hardware FMA: %lld of %lld results differ\n",
              static_cast<long long>(bad), static_cast<long long>(total));

  // 2. exp with FMA: same bits at both levels, and the speeds
  std::vector<float> x(100000), e1(x.size()), e2(x.size());
  for (auto& v : x) v = -10.0f + 20.0f * (g() >> 8) * 0x1p-24f;
  base_exp_fma(x.data(), e1.data(), x.size());
  avx2_exp_fma(x.data(), e2.data(), x.size());
  const bool same = same_bits(e1, e2);
  std::printf("exp with FMA, baseline (software) vs avx2 (hardware): %s\n",
              same ? "same bits" : "DIFFERENT BITS");
  double r[4] = {};
  std::vector<double> rounds[4];
  for (int round = 0; round < 5; ++round) {
    rounds[0].push_back(median_gps(base_exp_now, x, e1, 21));
    rounds[1].push_back(median_gps(base_exp_fma, x, e1, 5));
    rounds[2].push_back(median_gps(avx2_exp_now, x, e1, 21));
    rounds[3].push_back(median_gps(avx2_exp_fma, x, e1, 21));
  }
  for (int k = 0; k < 4; ++k) {
    std::sort(rounds[k].begin(), rounds[k].end());
    r[k] = rounds[k][2];
  }
  std::printf("exp(float), n = %zu, one thread, median G elements/s:\n", x.size());
  std::printf("  baseline: vm::exp (no FMA) %.3f, with the software FMA %.3f (%.3fx)\n", r[0],
              r[1], r[1] / r[0]);
  std::printf("  avx2:     vm::exp (no FMA) %.3f, with the FMA instruction %.3f (%.2fx)\n", r[2],
              r[3], r[3] / r[2]);
  return bad == 0 && same ? 0 : 1;
}
#endif
