// fastloss/common/reduce.hpp -- the one deterministic summation every kernel uses.
//
// Design. A reduction over n terms is cut into blocks of kBlock consecutive
// terms. Inside a block, term i is added to accumulator (i % kLanes) in index
// order, in float64; the kLanes accumulators are then combined by a fixed
// tree. Block totals are combined pairwise in index order. Every step depends
// only on n -- not on the thread count, the schedule or the vector width --
// so the result is bitwise identical on 1 or N threads and on every ISA
// (with -ffp-contract=off, which the build sets). The lane loop has a
// constant trip count, so compilers vectorize it at any width without
// reassociating anything.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "fastloss/common/config.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

constexpr int64_t kBlock = 4096;  // terms per block (a multiple of kChunk)
constexpr int64_t kChunk = 256;   // terms computed per vector pass into a buffer
constexpr int kLanes = 8;         // float64 accumulators per block

// Small fixed-size vectors (GCC/Clang vector extensions) for code whose
// natural width is not the loop's: lane-wise IEEE operations, so the same
// bits whatever registers the compiler maps them to (two ymm, one zmm half,
// two or four xmm). Passed by reference: a vector argument or return would
// change the ABI between ISA levels.
typedef double V4d __attribute__((vector_size(32)));
typedef float V4f __attribute__((vector_size(16)));
typedef float V8f __attribute__((vector_size(32)));
// Four consecutive values, widened to float64 (exactly: any instruction
// sequence gives the same bits). GCC 12 lowers __builtin_convertvector from
// four floats to four doubles as two half conversions, two 8-byte loads that
// merge into the previous register (a dependency from one loop iteration to
// the next) and an insert: 4 instructions where x86 has one, and overlap's
// sums loop ran 20% slower than a plain read of the same bytes. x86 gets the
// conversion instructions by name.
FL_INLINE void load4(const double* x, V4d& v) { std::memcpy(&v, x, sizeof v); }
FL_INLINE void load4(const float* x, V4d& v) {
#if defined(__AVX__)
  const __m256d d = _mm256_cvtps_pd(_mm_loadu_ps(x));
  std::memcpy(&v, &d, sizeof v);
#elif defined(__SSE2__)
  const __m128 f = _mm_loadu_ps(x);
  const __m128d d[2] = {_mm_cvtps_pd(f), _mm_cvtps_pd(_mm_movehl_ps(f, f))};
  std::memcpy(&v, d, sizeof v);
#else
  V4f f;
  std::memcpy(&f, x, sizeof f);
  v = __builtin_convertvector(f, V4d);
#endif
}

struct Lanes {
  double v[kLanes];

  FL_INLINE void zero() {
    for (int l = 0; l < kLanes; ++l) v[l] = 0.0;
  }
  // Add terms t[0..len) whose first index is a multiple of kLanes.
  FL_INLINE void add(const double* FL_RESTRICT t, int64_t len) {
    int64_t j = 0;
    for (; j + kLanes <= len; j += kLanes) {
      for (int l = 0; l < kLanes; ++l) v[l] += t[j + l];
    }
    for (int l = 0; j + l < len; ++l) v[l] += t[j + l];
  }
  FL_INLINE double total() const { return tree(v); }
  // The fixed combination of kLanes accumulators.
  static FL_INLINE double tree(const double* a) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  }
};

// Pairwise sum of x[0..n) in index order (a tree fixed by n).
inline double pairwise_sum(const double* x, int64_t n) {
  if (n <= 0) return 0.0;
  if (n == 1) return x[0];
  if (n == 2) return x[0] + x[1];
  const int64_t h = n / 2;
  return pairwise_sum(x, h) + pairwise_sum(x + h, n - h);
}

inline int64_t num_blocks(int64_t n, int64_t block = kBlock) {
  return n <= 0 ? 0 : (n + block - 1) / block;
}

// Scratch for block partials: a small inline buffer, heap beyond it, so a
// call on a few elements does not allocate.
class Partials {
 public:
  explicit Partials(int64_t count, int64_t per_block = 1)
      : stride_(per_block) {
    const int64_t total = count * per_block;
    if (total <= kInline) {
      ptr_ = inline_;
    } else {
      heap_.resize(static_cast<size_t>(total));
      ptr_ = heap_.data();
    }
    std::fill(ptr_, ptr_ + total, 0.0);
  }
  Partials(const Partials&) = delete;
  Partials& operator=(const Partials&) = delete;
  double* operator[](int64_t b) { return ptr_ + b * stride_; }
  double* data() { return ptr_; }

 private:
  static constexpr int64_t kInline = 64;
  double inline_[kInline];
  std::vector<double> heap_;
  double* ptr_;
  int64_t stride_;
};

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
